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

    public func write(_ event: AgentEvent) {
        let fields = event.fields
        var object = fields
        // `2026-12-05T03:14:07Z`, as ISO8601DateFormatter wrote it; the format style is a value,
        // not a formatter object made for each event (a thousand communities' start wrote thousands).
        object["time"] = Date().formatted(.iso8601)
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
}
