import Foundation
import Logging
import SyncEngine
import Synchronization

/// JSON lines a chat client can follow: one object per event, with `time`, `community`,
/// `event` and the event's fields. Written to a file (appended) or standard output.
///
/// ```
/// {"community":"0x03…","event":"archive.imported","archiveID":"0x…","stored":600,…,"time":"2026-11-25T10:00:00Z"}
/// ```
public final class EventLog: Sendable {
    private let writer: Mutex<(@Sendable (Data) throws -> Void)?>
    private let failures = Atomic<Int>(0)
    /// Where every event also goes, numbered, for live readers (the local API's event stream).
    private let hub = Mutex<EventHub?>(nil)
    private let logger = Logger(label: "community-history.events")

    /// Events that could not be written (a full disk, a removed file): logged, and counted in
    /// the agent's metrics, never silently dropped.
    public var writeFailures: Int { failures.load(ordering: .relaxed) }

    /// `path == nil` writes to standard output.
    public init(path: String?) throws {
        guard let path else {
            writer = Mutex({ FileHandle.standardOutput.write($0) })
            return
        }
        if !FileManager.default.fileExists(atPath: path) {
            // 0600 whatever the umask: events name communities and archives a member follows.
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw AgentConfigurationError("cannot create the events file \(path)")
            }
        }
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try file.seekToEnd()
        writer = Mutex({ try file.write(contentsOf: $0) })
    }

    /// Hands each line (with its newline) to `writer`, one at a time.
    public init(writer: @escaping @Sendable (Data) -> Void) { self.writer = Mutex(writer) }

    /// A log that writes nothing.
    public init() { writer = Mutex(nil) }

    /// Hands every event written from now on to `hub` as well (with the same JSON).
    public func mirror(to hub: EventHub) { self.hub.withLock { $0 = hub } }

    public func write(_ event: SyncEvent, community: String) {
        var fields = Self.fields(event)
        fields["community"] = community
        write(fields)
    }

    public func write(_ fields: [String: any Sendable]) {
        var object = fields
        object["time"] = ISO8601DateFormatter().string(from: Date())
        // The events' format is documented and stable (README, "The agent"); a change of meaning raises this.
        object["schemaVersion"] = 1
        do {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            hub.withLock { $0 }?.publish(name: fields["event"] as? String ?? "event", json: data)
            try writer.withLock { try $0?(data + Data("\n".utf8)) }
        } catch {
            let count = failures.add(1, ordering: .relaxed).newValue
            // Every failure counts; the first and then every hundredth is logged.
            if count == 1 || count % 100 == 0 {
                logger.error("cannot write an event", metadata: ["event": "\(fields["event"] ?? "?")", "failures": "\(count)", "error": "\(error)"])
            }
        }
    }

    static func fields(_ event: SyncEvent) -> [String: any Sendable] {
        switch event {
        case .announcementAccepted(let clock, let cid): return ["event": "announcement.accepted", "clock": clock, "indexCID": cid]
        case .announcementIgnored(let reason): return ["event": "announcement.ignored", "reason": reason.key, "detail": reason.description]
        case .indexDownloaded(let cid, let archives, let rejected):
            return ["event": "index.downloaded", "indexCID": cid, "archives": archives, "rejectedEntries": rejected]
        case .planned(let archives, let knownBad):
            return ["event": "plan.ready", "archives": archives, "knownBad": knownBad.count, "knownBadArchives": knownBad.keys.sorted().map(\.string)]
        case .downloadStarted(let id, let cid): return ["event": "download.started", "archiveID": id.string, "cid": cid]
        case .archiveDownloaded(let id, let from, let to, let bytes):
            return ["event": "archive.downloaded", "archiveID": id.string, "from": from, "to": to, "bytes": bytes]
        case .downloadProgress(let id, let bytes, let total):
            return ["event": "archive.progress", "phase": "download", "archiveID": id.string, "bytes": bytes, "totalBytes": total]
        case .importingArchive(let id): return ["event": "archive.importing", "archiveID": id.string]
        case .importProgress(let id, let entries):
            return ["event": "archive.progress", "phase": "import", "archiveID": id.string, "entries": entries]
        case .archiveImported(let result):
            return ["event": "archive.imported", "archiveID": result.archiveID.string, "from": result.from, "to": result.to,
                    "stored": result.counts.stored, "replaced": result.counts.replaced, "removed": result.counts.removed,
                    "rejected": result.rejected.values.reduce(0, +)]
        case .archiveFailed(let id, let failure):
            return ["event": "archive.failed", "archiveID": id.string, "kind": failure.kind.rawValue, "retryable": failure.kind.isRetryable,
                    "reason": failure.reason]
        case .recordFailed(let what, let error): return ["event": "record.failed", "what": what, "error": error]
        case .heldMessagesReleased(let archives, let stored, let replaced):
            return ["event": "messages.released", "archives": archives, "stored": stored, "replaced": replaced]
        case .waitingForKey(let wait):
            return ["event": "key.waiting", "kind": wait.kind.rawValue, "item": wait.item, "groupID": wait.groupID, "keyID": wait.keyID]
        case .waiting(let timer, let delay):
            return ["event": "waiting", "for": timer == .quietWindow ? "quiet-window" : "retry", "seconds": delay.inSeconds]
        case .finished(let outcome):
            switch outcome {
            case .completed(let cid, let imported, let unimportable):
                return ["event": "finished", "outcome": "completed", "indexCID": cid.string, "imported": imported,
                        "unimportable": unimportable.filter { $0.value.kind != .waitingForKey }.keys.sorted().map(\.string),
                        "waitingForKey": unimportable.filter { $0.value.kind == .waitingForKey }.keys.sorted().map(\.string)]
            case .failed(let failure):
                // An index waiting for a key is not retried (only keys arriving resume it).
                return ["event": "failed", "cause": failure.cause.rawValue, "reason": failure.description,
                        "retryable": failure.cause != .waitingForKey]
            case .nothingToDo: return ["event": "finished", "outcome": "nothing-to-do"]
            }
        }
    }
}
