import Foundation
import StatusCrypto
import SyncEngine

/// Everything the agent reports on its event stream (the events file, standard output, the
/// local API's `/v1/events`), as typed values. `fields` is their one JSON form, documented in the
/// README ("The agent"): a name (`event`) and the event's fields.
///
/// ```swift
/// events.write(.communityJoined(id))
/// events.write(.sync(community: id, .archiveImported(result)))
/// ```
public enum AgentEvent: Sendable {
    case agentStarted(communities: [CommunityID])
    case agentStopped
    case communityJoined(CommunityID)
    case communityLeft(CommunityID, purged: Bool, messagesDeleted: Int)
    /// A community joined through the API whose stored settings no longer read: not followed.
    case communitySkipped(communityID: String, error: String)
    case communityStartFailed(CommunityID, error: String, attempt: Int, retryIn: Duration)
    case configurationReloaded(ReloadSummary)
    case configurationReloadFailed(error: String)
    case keysImported(added: Int, known: Int, resumed: [CommunityID])
    /// The key store did not read (its path and error; never key bytes).
    case keysUnreadable(path: String, error: String)
    /// Messages imported archives held for keys, stored now that the keys came (`POST /v1/keys`).
    case messagesReleased(archives: Int, stored: Int, replaced: Int)
    case storeFailed(reason: String, retryable: Bool, pubsubTopic: String)
    /// What one community's sync reported.
    case sync(community: CommunityID, SyncEvent)

    /// The event's JSON object, without `time` and `schemaVersion` (the log adds them).
    public var fields: [String: any Sendable] {
        switch self {
        case .agentStarted(let communities): return ["event": "agent.started", "communities": communities.map(\.string)]
        case .agentStopped: return ["event": "agent.stopped"]
        case .communityJoined(let id): return ["event": "community.joined", "community": id.string]
        case .communityLeft(let id, let purged, let deleted):
            return ["event": "community.left", "community": id.string, "purged": purged, "messagesDeleted": deleted]
        case .communitySkipped(let id, let error): return ["event": "community.skipped", "community": id, "error": error]
        case .communityStartFailed(let id, let error, let attempt, let delay):
            return ["event": "community.start-failed", "community": id.string, "error": error, "attempt": attempt,
                    "retryInSeconds": delay.inSeconds]
        case .configurationReloaded(let summary):
            return ["event": "configuration.reloaded", "started": summary.started, "stopped": summary.stopped,
                    "restarted": summary.restarted, "needRestart": summary.needRestart]
        case .configurationReloadFailed(let error): return ["event": "configuration.reload-failed", "error": error]
        case .keysImported(let added, let known, let resumed):
            return ["event": "keys.imported", "added": added, "known": known, "resumed": resumed.map(\.string)]
        case .keysUnreadable(let path, let error): return ["event": "keys.unreadable", "path": path, "error": error]
        case .messagesReleased(let archives, let stored, let replaced):
            return ["event": "messages.released", "archives": archives, "stored": stored, "replaced": replaced]
        case .storeFailed(let reason, let retryable, let shard):
            return ["event": "store.failed", "reason": reason, "retryable": retryable, "pubsubTopic": shard]
        case .sync(let community, let event):
            var fields = Self.fields(event)
            fields["community"] = community.string
            return fields
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
            var fields: [String: any Sendable] = ["event": "archive.failed", "archiveID": id.string, "kind": failure.kind.rawValue,
                                                  "retryable": failure.kind.isRetryable, "reason": failure.reason]
            // The step that failed, and what rejected bytes proved to be.
            if let step = failure.step { fields["step"] = step.rawValue }
            if let rejection = failure.rejection { fields["rejection"] = rejection.rawValue }
            // Which failure of the database, and what fixes it (busy, full, read-only, damaged).
            if let database = failure.database {
                fields["database"] = database.rawValue
                fields["fix"] = database.fix
            }
            return fields
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
