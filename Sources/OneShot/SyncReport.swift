import ArchiveImport
import Foundation
import SyncEngine

/// What a one-shot sync did, for people (`text`) and scripts (JSON).
public struct SyncReport: Codable, Sendable, Equatable {
    public struct Announcements: Codable, Sendable, Equatable {
        /// Messages found on the archive channels (store query).
        public var messagesScanned = 0
        public var accepted = 0
        /// Not acted on, by reason (undecryptable, forged signer, older clock, …).
        public var ignored: [String: Int] = [:]
    }

    public struct Archives: Codable, Sendable, Equatable {
        public var listed = 0
        public var rejectedEntries = 0
        public var downloaded = 0
        public var bytesDownloaded: Int64 = 0
        public var imported = 0
        /// Archives not imported this time that a later run may import (archive ID → reason).
        public var failed: [String: String] = [:]
        /// Archives that cannot be imported as they are: their content was rejected, or they are
        /// over a limit (archive ID → reason). They do not make the sync fail.
        public var unimportable: [String: String] = [:]
        /// An encrypted community's index and archives waiting for a group key the member does
        /// not hold (index CID or archive ID → the key): imported once `keys import` brings it.
        public var waitingForKey: [String: String] = [:]
    }

    /// How the sync ended. Encoded as `{"status": …, "cause": …, "detail": …}`; `status` is one of
    /// `completed`, `up-to-date`, `no-announcement`, `failed` (with `cause`: `database`,
    /// `peer-unreachable`, `archives-failed`).
    public enum Outcome: Sendable, Equatable, Codable, CustomStringConvertible {
        case completed(imported: Int)
        /// An announcement was found and everything it lists is already in the database.
        case upToDate
        /// No archive announcement in the store's answer for the days asked.
        case noAnnouncement(days: Int)
        case failed(cause: PlanFailure.Cause, detail: String)

        /// Whether the sync did what it could (unimportable archives are reported separately).
        public var succeeded: Bool {
            if case .failed = self { return false }
            return true
        }

        public var description: String {
            switch self {
            case .completed(let imported): return "completed: \(imported) archive(s) imported"
            case .upToDate: return "nothing to do: up to date"
            case .noAnnouncement(let days): return "nothing to do: no archive announcement in the last \(days) days"
            case .failed(let cause, let detail): return "failed (\(cause.rawValue)): \(detail)"
            }
        }

        private enum CodingKeys: String, CodingKey { case status, cause, detail, imported, days }

        /// Every key in every case, `null` where it does not apply (a stable format).
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            var (imported, days, cause): (Int?, Int?, PlanFailure.Cause?) = (nil, nil, nil)
            switch self {
            case .completed(let count):
                try container.encode("completed", forKey: .status)
                imported = count
            case .upToDate:
                try container.encode("up-to-date", forKey: .status)
            case .noAnnouncement(let count):
                try container.encode("no-announcement", forKey: .status)
                days = count
            case .failed(let failure, _):
                try container.encode("failed", forKey: .status)
                cause = failure
            }
            try container.encode(imported, forKey: .imported)
            try container.encode(days, forKey: .days)
            try container.encode(cause, forKey: .cause)
            if case .failed(_, let detail) = self { try container.encode(detail, forKey: .detail) } else { try container.encode(description, forKey: .detail) }
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            switch try container.decode(String.self, forKey: .status) {
            case "completed": self = .completed(imported: try container.decode(Int.self, forKey: .imported))
            case "up-to-date": self = .upToDate
            case "no-announcement": self = .noAnnouncement(days: try container.decode(Int.self, forKey: .days))
            case "failed":
                self = .failed(cause: try container.decode(PlanFailure.Cause.self, forKey: .cause),
                               detail: try container.decode(String.self, forKey: .detail))
            case let other:
                throw DecodingError.dataCorruptedError(forKey: .status, in: container, debugDescription: "unknown status \(other)")
            }
        }
    }

    public var communityID: String
    public var indexCID: String?
    public var selection: String
    public var outcome = Outcome.upToDate
    public var announcements = Announcements()
    public var archives = Archives()
    public var messages = ReplayReport.Messages()
    /// Of `messages.stored` and `messages.replaced`: encrypted messages that imported archives
    /// held for a key, stored now that the key is held (no download).
    public var heldMessagesReleased = 0
    public var database = ReplayReport.Database()
    /// Database writes of the sync that failed (the sync went on; the next run redoes them).
    public var recordFailures: [String] = []
    public var performance = SyncPerformance()

    public init(communityID: String, selection: String) {
        self.communityID = communityID
        self.selection = selection
    }

    private enum CodingKeys: String, CodingKey {
        case communityID, indexCID, selection, outcome, announcements, archives, messages, heldMessagesReleased, database, recordFailures, performance
    }

    /// Every key, absent values as `null` (`sync --json` is a documented, stable format).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(communityID, forKey: .communityID)
        try container.encode(indexCID, forKey: .indexCID)
        try container.encode(selection, forKey: .selection)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(announcements, forKey: .announcements)
        try container.encode(archives, forKey: .archives)
        try container.encode(messages, forKey: .messages)
        try container.encode(heldMessagesReleased, forKey: .heldMessagesReleased)
        try container.encode(database, forKey: .database)
        try container.encode(recordFailures, forKey: .recordFailures)
        try container.encode(performance, forKey: .performance)
    }

    /// Folds one driver event into the report.
    public mutating func record(_ event: SyncEvent) {
        switch event {
        case .announcementAccepted(_, let cid):
            announcements.accepted += 1
            indexCID = cid
        case .announcementIgnored(let reason):
            announcements.ignored[reason.key, default: 0] += 1
        case .indexDownloaded(let cid, let archives, let rejected):
            indexCID = cid
            self.archives.listed = archives + rejected
            self.archives.rejectedEntries = rejected
        case .archiveDownloaded(_, _, _, let bytes):
            archives.downloaded += 1
            archives.bytesDownloaded += bytes
        case .archiveImported(let result):
            archives.imported += 1
            // Failed in an earlier attempt, imported in a retry: not failed.
            archives.failed[result.archiveID.string] = nil
            messages.stored += result.counts.stored
            messages.replaced += result.counts.replaced
            messages.unchanged += result.counts.unchanged
            messages.removed += result.counts.removed
            for (reason, count) in result.rejected { messages.rejected[reason.rawValue, default: 0] += count }
        case .archiveFailed(let id, let failure):
            if failure.kind.isRetryable { archives.failed[id.string] = failure.reason } else { archives.unimportable[id.string] = failure.reason }
        case .planned(_, let knownBad):
            for (id, failure) in knownBad { archives.unimportable[id.string] = "\(failure.reason) (rejected before; not downloaded again)" }
        case .finished(.completed(_, _, let unimportable)):
            // Failed in an earlier attempt, then found unimportable: listed once, as unimportable.
            for (id, failure) in unimportable.map({ ($0.key.string, $0.value) }) where failure.kind != .waitingForKey {
                archives.failed[id] = nil
                archives.unimportable[id] = archives.unimportable[id] ?? failure.reason
            }
        case .heldMessagesReleased(_, let stored, let replaced):
            messages.stored += stored
            messages.replaced += replaced
            heldMessagesReleased += stored + replaced
        case .waitingForKey(let wait):
            // Failed in an earlier attempt (a download), waiting now: listed once, as waiting.
            archives.failed[wait.item] = nil
            archives.waitingForKey[wait.item] = "key \(wait.keyID) of group \(wait.groupID)"
        case .recordFailed(let what, let error):
            recordFailures.append("\(what): \(error)")
        case .downloadStarted, .downloadProgress, .importingArchive, .importProgress, .finished, .waiting:
            break
        }
    }

    public var text: String {
        var lines = [
            "community      \(communityID)",
            "announcements  \(announcements.messagesScanned) messages on the archive channels, \(announcements.accepted) accepted"
                + (announcements.ignored.isEmpty ? "" : ", ignored: " + announcements.ignored.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")),
            "index          \(indexCID ?? "none") (\(archives.listed) entries, \(archives.rejectedEntries) rejected; selection \(selection))",
            "archives       \(archives.downloaded) downloaded (\(archives.bytesDownloaded) bytes), \(archives.imported) imported, "
                + "\(archives.failed.count) failed, \(archives.unimportable.count) cannot be imported"
                + (archives.waitingForKey.isEmpty ? "" : ", \(archives.waitingForKey.count) waiting for a key"),
        ]
        for (id, reason) in archives.failed.sorted(by: { $0.key < $1.key }) {
            lines.append("               failed \(id.prefix(18))…: \(reason)")
        }
        for (id, reason) in archives.unimportable.sorted(by: { $0.key < $1.key }) {
            lines.append("               cannot be imported \(id.prefix(18))…: \(reason)")
        }
        for (item, key) in archives.waitingForKey.sorted(by: { $0.key < $1.key }) {
            lines.append("               waiting for \(key): \(item.prefix(18))… (kept; imported after `keys import`, no new download)")
        }
        lines.append("messages       \(messages.stored) stored, \(messages.replaced) replaced local copies, \(messages.removed) local copies removed, \(messages.rejectedTotal) rejected")
        if heldMessagesReleased > 0 {
            lines.append("               \(heldMessagesReleased) of them held for a key until now (no download)")
        }
        for (reason, count) in messages.rejected.sorted(by: { $0.key < $1.key }) {
            lines.append("               rejected \(count) × \(reason)")
        }
        lines.append("database       \(database.messageCount) messages" + (database.digest.map { ", digest \($0)" } ?? ""))
        for failure in recordFailures { lines.append("not recorded   \(failure)") }
        lines.append("outcome        \(outcome)")
        lines.append("took           " + String(format: "%.1f s", performance.seconds)
                     + (performance.archives.isEmpty ? "" : String(format: "; the longest write lock an import held: %.2f s", performance.longestWriteLockSeconds)))
        if outcome.succeeded && !archives.unimportable.isEmpty {
            lines.append("warning        \(archives.unimportable.count) archive(s) cannot be imported as they are; everything else is in (exit 0)")
        }
        if !archives.waitingForKey.isEmpty {
            lines.append("keys           \(archives.waitingForKey.count) encrypted item(s) wait for a group key: `community-history keys import FILE` "
                         + "(the keys from the chat client), then sync again")
        }
        return lines.joined(separator: "\n")
    }
}
