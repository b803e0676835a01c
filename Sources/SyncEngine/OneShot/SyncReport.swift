import ArchiveImport
import Foundation

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
        public var failed: [String: String] = [:]
    }

    public var communityID: String
    public var indexCID: String?
    public var selection: String
    public var outcome = ""
    public var announcements = Announcements()
    public var archives = Archives()
    public var messages = ReplayReport.Messages()
    public var database = ReplayReport.Database()

    public init(communityID: String, selection: String) {
        self.communityID = communityID
        self.selection = selection
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
            archives.failed[result.archiveID] = nil
            messages.stored += result.counts.stored
            messages.replaced += result.counts.replaced
            messages.unchanged += result.counts.unchanged
            messages.removed += result.counts.removed
            for (reason, count) in result.rejected { messages.rejected[reason, default: 0] += count }
        case .archiveFailed(let id, let reason):
            archives.failed[id] = reason
        case .planned(_, let knownBad):
            for (id, reason) in knownBad { archives.failed[id] = "\(reason) (rejected before; not downloaded again)" }
        case .downloadStarted, .downloadProgress, .importingArchive, .importProgress, .finished:
            break
        }
    }

    public var text: String {
        var lines = [
            "community      \(communityID)",
            "announcements  \(announcements.messagesScanned) messages on the archive channels, \(announcements.accepted) accepted"
                + (announcements.ignored.isEmpty ? "" : ", ignored: " + announcements.ignored.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")),
            "index          \(indexCID ?? "none") (\(archives.listed) entries, \(archives.rejectedEntries) rejected; selection \(selection))",
            "archives       \(archives.downloaded) downloaded (\(archives.bytesDownloaded) bytes), \(archives.imported) imported, \(archives.failed.count) failed",
        ]
        for (id, reason) in archives.failed.sorted(by: { $0.key < $1.key }) {
            lines.append("               failed \(id.prefix(18))…: \(reason)")
        }
        lines.append("messages       \(messages.stored) stored, \(messages.replaced) replaced local copies, \(messages.removed) local copies removed, \(messages.rejectedTotal) rejected")
        for (reason, count) in messages.rejected.sorted(by: { $0.key < $1.key }) {
            lines.append("               rejected \(count) × \(reason)")
        }
        lines.append("database       \(database.messageCount) messages, digest \(database.digest)")
        lines.append("outcome        \(outcome)")
        return lines.joined(separator: "\n")
    }
}
