import Crypto
import Foundation
import GRDB

extension HistoryDatabase {
    /// Stores messages a chat client received live (`source = local`) in one transaction; a
    /// message already stored (as a local copy or from an archive) is kept as it is, so
    /// posting the same batch twice changes nothing. A copy of a message an import is writing
    /// right now counts as already stored (see docs/schema.md).
    ///
    /// ```swift
    /// let result = try await database.insertLocalMessages(copies)  // (inserted: 2, alreadyStored: 0)
    /// ```
    ///
    /// Throws a GRDB `DatabaseError` (nothing of the batch is stored).
    @discardableResult
    public func insertLocalMessages(_ messages: [StoredMessage]) async throws -> LocalCopiesResult {
        try await pool.write { db in try Self.insertLocalMessages(messages, db) }
    }

    static func insertLocalMessages(_ messages: [StoredMessage], _ db: Database) throws -> LocalCopiesResult {
        // The view's changes() is 0 whatever its trigger stored: ask message_row first.
        let exists = try db.makeStatement(sql: """
            SELECT 1 FROM message_row WHERE id = ? AND community_ref = (SELECT ref FROM community_ref WHERE value = ?)
            """)
        let insert = try db.makeStatement(sql: """
            INSERT OR IGNORE INTO message (id, community_id, chat_id, content_topic, author, type, clock,
                                           timestamp, payload, text, third_party_id, source, archive_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'local', NULL)
            """)
        var result = LocalCopiesResult()
        for message in messages {
            if try Bool.fetchOne(exists, arguments: [message.id, message.communityID]) == true {
                result.alreadyStored += 1
                continue
            }
            try insert.execute(arguments: [
                message.id, message.communityID, message.chatID, message.contentTopic, message.author,
                message.type, message.clock.map { Int64(bitPattern: $0) }, message.timestamp, message.payload,
                message.text, message.thirdPartyID,
            ])
            result.inserted += 1
        }
        return result
    }

    /// Messages of a community (optionally one chat), oldest first.
    public func messages(communityID: String, chatID: String? = nil, limit: Int? = nil) throws -> [StoredMessage] {
        try pool.read { db in
            var sql = "SELECT * FROM message WHERE community_id = ?"
            var arguments: StatementArguments = [communityID]
            if let chatID {
                sql += " AND chat_id = ?"
                arguments += [chatID]
            }
            sql += " ORDER BY timestamp, clock, id"
            if let limit { sql += " LIMIT \(limit)" }
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(StoredMessage.init(row:))
        }
    }

    /// The message `id` of `communityID` (IDs repeat across communities; without a community,
    /// the first by community ID).
    public func message(id: String, communityID: String? = nil) throws -> StoredMessage? {
        try pool.read { db in
            if let communityID {
                return try Row.fetchOne(db, sql: "SELECT * FROM message WHERE community_id = ? AND id = ?", arguments: [communityID, id])
                    .map(StoredMessage.init(row:))
            }
            return try Row.fetchOne(db, sql: "SELECT * FROM message WHERE id = ? ORDER BY community_id LIMIT 1", arguments: [id])
                .map(StoredMessage.init(row:))
        }
    }

    public func messageCount(communityID: String? = nil) throws -> Int {
        try pool.read { db in
            if let communityID {
                return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message WHERE community_id = ?", arguments: [communityID]) ?? 0
            }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message") ?? 0
        }
    }

    /// SHA-256 over every row of the message table in ID order, every column included:
    /// equal digests mean equal histories. Used to prove imports idempotent.
    public func messageDigest(communityID: String? = nil) throws -> String {
        try pool.read { db in
            var hasher = SHA256()
            let sql = communityID == nil
                ? "SELECT * FROM message ORDER BY id, community_id"
                : "SELECT * FROM message WHERE community_id = ? ORDER BY id"
            let arguments: StatementArguments = communityID.map { [$0] } ?? []
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() {
                for column in row.columnNames {
                    let value: DatabaseValue = row[column]
                    let bytes: [UInt8]
                    switch value.storage {
                    case .null: bytes = [0]
                    case .int64(let v): bytes = [1] + Array("\(v)".utf8)
                    case .double(let v): bytes = [2] + Array("\(v)".utf8)
                    case .string(let v): bytes = [3] + Array(v.utf8)
                    case .blob(let v): bytes = [4] + Array(v)
                    }
                    var length = UInt64(bytes.count).bigEndian
                    withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
                    hasher.update(data: bytes)
                }
            }
            return hasher.finalize().map { String(format: "%02x", $0) }.joined()
        }
    }
}

/// What storing a batch of local copies did.
public struct LocalCopiesResult: Sendable, Equatable, Codable {
    public var inserted = 0
    /// Already in the database (posted before, or from an archive): left as they were.
    public var alreadyStored = 0
    public init(inserted: Int = 0, alreadyStored: Int = 0) {
        self.inserted = inserted
        self.alreadyStored = alreadyStored
    }
}

extension StoredMessage {
    init(row: Row) {
        self.init(
            id: row["id"], communityID: row["community_id"], chatID: row["chat_id"],
            contentTopic: row["content_topic"], author: row["author"], type: row["type"],
            clock: (row["clock"] as Int64?).map { UInt64(bitPattern: $0) }, timestamp: row["timestamp"],
            payload: row["payload"], text: row["text"], thirdPartyID: row["third_party_id"],
            source: Source(rawValue: row["source"]) ?? .local, archiveID: row["archive_id"])
    }
}
