import HistoryStore

/// What a replay did. Deterministic for a given fixture and a new database, so it can be
/// stored and compared (`replay --expect`).
public struct ReplayReport: Codable, Equatable, Sendable {
    public struct Archives: Codable, Equatable, Sendable {
        /// Entries in the index, usable or not.
        public var listed = 0
        public var imported = 0
        /// Already imported before this run.
        public var skipped = 0
        public var rejected: [RejectedArchive] = []
        /// Encrypted with a group key the member does not hold: not bad, imported by a replay
        /// once `keys import` brings the key.
        public var waitingForKey: [WaitingArchive] = []
    }

    public struct WaitingArchive: Codable, Equatable, Sendable {
        public var id: String
        public var groupID: String
        public var keyID: String
    }

    public struct RejectedArchive: Codable, Equatable, Sendable {
        public var id: String
        public var reason: String
    }

    public struct Messages: Codable, Equatable, Sendable {
        public var stored = 0
        public var replaced = 0
        public var unchanged = 0
        public var removed = 0
        /// By reason; see `RejectionReason`.
        public var rejected: [String: Int] = [:]
        public var rejectedTotal: Int { rejected.values.reduce(0, +) }

        public init() {}
    }

    public struct Database: Codable, Equatable, Sendable {
        public var messageCount = 0
        /// SHA-256 over the community's message rows (see `HistoryDatabase.messageDigest`); nil
        /// when not asked for (`sync` computes it with `--digest` only: it reads every row).
        public var digest: String?

        public init() {}

        private enum CodingKeys: String, CodingKey { case messageCount, digest }

        /// `digest` is `null` when not computed, never a missing key.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(messageCount, forKey: .messageCount)
            try container.encode(digest, forKey: .digest)
        }
    }

    public var communityID: String
    public var indexCID: String
    public var mode: HydrationMode
    /// Local copies seeded from the fixture into a new database.
    public var localMessagesSeeded = 0
    public var archives = Archives()
    public var messages = Messages()
    public var database = Database()
    public var results: [ArchiveImportResult] = []

    /// A summary for people.
    public var text: String {
        var lines = [
            "community  \(communityID)",
            "index      \(indexCID) (\(archives.listed) entries, mode \(mode.rawValue))",
            "archives   \(archives.imported) imported, \(archives.skipped) skipped (already imported), \(archives.rejected.count) rejected"
                + (archives.waitingForKey.isEmpty ? "" : ", \(archives.waitingForKey.count) waiting for a key"),
        ]
        for archive in archives.rejected {
            lines.append("           rejected \(archive.id.prefix(18))…: \(archive.reason)")
        }
        for archive in archives.waitingForKey {
            lines.append("           waiting  \(archive.id.prefix(18))…: for key \(archive.keyID) of group \(archive.groupID) (keys import, then replay)")
        }
        lines.append("messages   \(messages.stored) stored, \(messages.replaced) replaced local copies, \(messages.removed) local copies removed, \(messages.unchanged) unchanged, \(messages.rejectedTotal) rejected")
        for (reason, count) in messages.rejected.sorted(by: { $0.key < $1.key }) {
            lines.append("           rejected \(count) × \(reason)")
        }
        if localMessagesSeeded > 0 { lines.append("local      \(localMessagesSeeded) local copies seeded into the new database") }
        lines.append("database   \(database.messageCount) messages" + (database.digest.map { ", digest \($0)" } ?? ""))
        return lines.joined(separator: "\n")
    }
}
