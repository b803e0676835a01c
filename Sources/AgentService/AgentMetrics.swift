import Foundation
import SyncEngine
import Synchronization

/// Counters and gauges per community, rendered in the Prometheus text format at `/metrics`.
public final class AgentMetrics: Sendable {
    struct Community {
        var archivesImported = 0
        /// By `ArchiveFailureKind` raw value.
        var archivesFailed: [String: Int] = [:]
        /// Archives of the last completed plan that cannot be imported as they are.
        var archivesUnimportable = 0
        var archivesWaitingForKey = 0
        /// Database writes of the sync that failed.
        var recordFailures = 0
        /// Attempts to start the community's sync that failed (retried with a growing delay).
        var startFailures = 0
        var messagesStored = 0
        var messagesReplaced = 0
        var messagesRemoved = 0
        var messagesRejected: [String: Int] = [:]
        var bytesDownloaded: Int64 = 0
        var announcementsAccepted = 0
        var announcementsRejected: [String: Int] = [:]
        var state = "idle"
        var lastSuccess: Double?
    }

    private let communities = Mutex<[String: Community]>([:])

    public init() {}

    public func register(_ communityID: String) {
        communities.withLock { if $0[communityID] == nil { $0[communityID] = Community() } }
    }

    public func record(_ event: SyncEvent, community: String) {
        communities.withLock { all in
            var c = all[community] ?? Community()
            switch event {
            case .announcementAccepted: c.announcementsAccepted += 1; c.state = "settling"
            case .announcementIgnored(let reason): c.announcementsRejected[reason.key, default: 0] += 1
            case .indexDownloaded: c.state = "working"
            case .planned, .downloadStarted, .downloadProgress, .importProgress, .waiting, .waitingForKey: break
            case .heldMessagesReleased(_, let stored, let replaced):
                c.messagesStored += stored
                c.messagesReplaced += replaced
            case .recordFailed: c.recordFailures += 1
            case .archiveDownloaded(_, _, _, let bytes): c.bytesDownloaded += bytes
            case .importingArchive: c.state = "importing"
            case .archiveImported(let result):
                c.archivesImported += 1
                c.messagesStored += result.counts.stored
                c.messagesReplaced += result.counts.replaced
                c.messagesRemoved += result.counts.removed
                for (reason, count) in result.rejected { c.messagesRejected[reason.rawValue, default: 0] += count }
                c.state = "working"
            case .archiveFailed(_, let failure): c.archivesFailed[failure.kind.rawValue, default: 0] += 1
            case .finished(let outcome):
                switch outcome {
                case .completed(_, _, let unimportable):
                    // Everything importable is in: a success, whatever cannot be imported.
                    c.state = "idle"
                    c.lastSuccess = Date().timeIntervalSince1970
                    c.archivesUnimportable = unimportable.values.filter { $0.kind != .waitingForKey }.count
                    c.archivesWaitingForKey = unimportable.values.filter { $0.kind == .waitingForKey }.count
                case .nothingToDo:
                    c.state = "idle"
                    c.lastSuccess = Date().timeIntervalSince1970
                case .failed(let failure):
                    // An index waiting for a key is not retried: no backoff runs.
                    c.state = failure.cause == .waitingForKey ? "waiting-for-key" : "backoff"
                }
            }
            all[community] = c
        }
    }

    /// A community the agent no longer follows: its series go (a Prometheus scrape then sees them end).
    public func unregister(_ communityID: String) {
        _ = communities.withLock { $0.removeValue(forKey: communityID) }
    }

    /// The community's current state (one of `states`), nil when it is not followed.
    public func state(of communityID: String) -> String? {
        communities.withLock { $0[communityID]?.state }
    }

    /// The community's sync could not start; it is tried again after a delay.
    public func startFailed(community: String) {
        communities.withLock { all in
            all[community, default: Community()].startFailures += 1
            all[community, default: Community()].state = "start-failed"
        }
    }

    /// A database write outside the sync's events failed.
    public func recordFailed(community: String) {
        communities.withLock { $0[community, default: Community()].recordFailures += 1 }
    }

    /// Announcement-channel messages that were not announcements (undecryptable, forged, …).
    public func rejectedAnnouncement(_ reason: String, community: String) {
        communities.withLock { $0[community, default: Community()].announcementsRejected[reason, default: 0] += 1 }
    }

    public static let states = ["idle", "settling", "working", "importing", "backoff", "waiting-for-key", "start-failed"]

    /// The Prometheus text exposition format (version 0.0.4).
    public func prometheusText() -> String {
        let snapshot = communities.withLock { $0 }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { out += "\(name){\(labels)} \(value)\n" }
        }
        let ids = snapshot.keys.sorted()
        func label(_ id: String, _ extra: String = "") -> String { "community=\"\(id)\"" + (extra.isEmpty ? "" : ",\(extra)") }
        family("community_history_archives_imported_total", "counter", "Archives imported.", ids.map { (label($0), "\(snapshot[$0]!.archivesImported)") })
        family("community_history_archives_failed_total", "counter", "Archive download or import failures, by kind (see ArchiveFailureKind).",
               ids.flatMap { id in snapshot[id]!.archivesFailed.sorted { $0.key < $1.key }.map { (label(id, "kind=\"\($0.key)\""), "\($0.value)") } })
        family("community_history_archives_waiting_for_key", "gauge", "Archives of the last completed plan encrypted with a group key the member does not hold (imported after keys import).",
               ids.map { (label($0), "\(snapshot[$0]!.archivesWaitingForKey)") })
        family("community_history_archives_unimportable", "gauge", "Archives of the last completed plan that cannot be imported as they are (content rejected or over a limit).",
               ids.map { (label($0), "\(snapshot[$0]!.archivesUnimportable)") })
        family("community_history_messages_stored_total", "counter", "New messages stored from archives.", ids.map { (label($0), "\(snapshot[$0]!.messagesStored)") })
        family("community_history_messages_replaced_total", "counter", "Local copies replaced by archive messages.", ids.map { (label($0), "\(snapshot[$0]!.messagesReplaced)") })
        family("community_history_messages_removed_total", "counter", "Local copies removed (not in the archive covering them).", ids.map { (label($0), "\(snapshot[$0]!.messagesRemoved)") })
        family("community_history_messages_rejected_total", "counter", "Archived messages not stored, by reason.",
               ids.flatMap { id in snapshot[id]!.messagesRejected.sorted { $0.key < $1.key }.map { (label(id, "reason=\"\($0.key)\""), "\($0.value)") } })
        family("community_history_record_failures_total", "counter", "Database writes of the sync that failed (state, failures, outcomes).",
               ids.map { (label($0), "\(snapshot[$0]!.recordFailures)") })
        family("community_history_start_failures_total", "counter", "Attempts to start the community's sync that failed (it is tried again).",
               ids.map { (label($0), "\(snapshot[$0]!.startFailures)") })
        family("community_history_bytes_downloaded_total", "counter", "Archive bytes downloaded from Codex.", ids.map { (label($0), "\(snapshot[$0]!.bytesDownloaded)") })
        family("community_history_announcements_accepted_total", "counter", "Archive announcements accepted.", ids.map { (label($0), "\(snapshot[$0]!.announcementsAccepted)") })
        family("community_history_announcements_rejected_total", "counter", "Messages on the archive channels not acted on, by reason.",
               ids.flatMap { id in snapshot[id]!.announcementsRejected.sorted { $0.key < $1.key }.map { (label(id, "reason=\"\($0.key)\""), "\($0.value)") } })
        family("community_history_state", "gauge", "Current state of each community's sync (1 for the current state).",
               ids.flatMap { id in Self.states.map { (label(id, "state=\"\($0)\""), snapshot[id]!.state == $0 ? "1" : "0") } })
        family("community_history_last_success_timestamp_seconds", "gauge", "When a plan last completed (unix seconds).",
               ids.compactMap { id in snapshot[id]!.lastSuccess.map { (label(id), String(format: "%.3f", $0)) } })
        return out
    }
}
