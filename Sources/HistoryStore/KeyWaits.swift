import Foundation
import GRDB

/// An encrypted community's index or archive waiting for a group key the member does not
/// hold: what `status` and the API show, and what `keys import` resumes.
public struct KeyWait: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case index
        case archive
        /// Encrypted messages of an imported archive (`HeldMessage`), held for their key.
        case messages
    }

    public var communityID: String
    public var kind: Kind
    /// The index's CID, or the archive's ID.
    public var item: String
    /// `0x` + hex of the group ID (the community ID's bytes, or a channel's chat ID).
    public var groupID: String
    /// `0x` + hex of the key ID.
    public var keyID: String
    /// Milliseconds since 1970: when it was found waiting.
    public var since: Int64
    /// `messages`: how many of the archive's messages wait for this key.
    public var messageCount: Int?

    public init(communityID: String, kind: Kind, item: String, groupID: String, keyID: String, since: Int64, messageCount: Int? = nil) {
        self.communityID = communityID
        self.kind = kind
        self.item = item
        self.groupID = groupID
        self.keyID = keyID
        self.since = since
        self.messageCount = messageCount
    }
}

extension HistoryDatabase {
    /// Records that `wait.item` waits for a key. An archive's download record is kept (its file
    /// is imported once the key comes, not downloaded again); a failure recorded before is
    /// replaced: waiting is not failing.
    ///
    /// Throws a GRDB `DatabaseError` when the database cannot be written.
    public func recordKeyWait(_ wait: KeyWait) async throws {
        try await pool.write { db in try Self.recordKeyWait(db, wait) }
    }

    static func recordKeyWait(_ db: Database, _ wait: KeyWait) throws {
            // One index at a time waits: the newest announced.
            if wait.kind == .index {
                try db.execute(sql: "DELETE FROM key_wait WHERE community_id = ? AND kind = 'index' AND item != ?",
                               arguments: [wait.communityID, wait.item])
            }
            // Found waiting again (each start tries once): `since` stays the first time.
            try db.execute(sql: """
                INSERT INTO key_wait (community_id, kind, item, group_id, key_id, since) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (community_id, kind, item) DO UPDATE SET group_id = excluded.group_id, key_id = excluded.key_id
                """, arguments: [wait.communityID, wait.kind.rawValue, wait.item, wait.groupID, wait.keyID, wait.since])
            if wait.kind == .archive {
                try db.execute(sql: "DELETE FROM archive_failure WHERE id = ? AND community_id = ?", arguments: [wait.item, wait.communityID])
            }
    }

    /// Ends the index waits of `communityID` (an index was read); archives end theirs when
    /// imported, in the import's own transaction.
    public func clearIndexKeyWaits(communityID: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM key_wait WHERE community_id = ? AND kind = 'index'", arguments: [communityID])
        }
    }

    /// What waits for a key: of one community, or of all when `communityID` is nil; oldest first.
    /// An archive's held messages are one entry per key (`messages`, with their count).
    ///
    /// Throws a GRDB `DatabaseError` when the database cannot be read.
    public func keyWaits(communityID: String? = nil) async throws -> [KeyWait] {
        try await pool.read { db in try Self.keyWaits(db, communityID: communityID) }
    }

    static func keyWaits(_ db: Database, communityID: String?) throws -> [KeyWait] {
        // A database from before v13, opened read-only (not migrated): nothing recorded.
        guard try db.tableExists("key_wait") else { return [] }
        let held = try db.tableExists("held_message")
        var sql = "SELECT community_id, kind, item, group_id, key_id, since, NULL AS count FROM key_wait"
        if held {
            sql += """
                 UNION ALL SELECT community_id, 'messages', archive_id, group_id, key_id, MIN(held_at), COUNT(*)
                FROM held_message GROUP BY community_id, archive_id, group_id, key_id
                """
        }
        var arguments: StatementArguments = []
        sql = "SELECT * FROM (\(sql))"
        if let communityID {
            sql += " WHERE community_id = ?"
            arguments = [communityID]
        }
        sql += " ORDER BY since, community_id, kind, item"
        return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
            KeyWait(communityID: row["community_id"], kind: KeyWait.Kind(rawValue: row["kind"]) ?? .archive, item: row["item"],
                    groupID: row["group_id"], keyID: row["key_id"], since: row["since"], messageCount: row["count"])
        }
    }
}
