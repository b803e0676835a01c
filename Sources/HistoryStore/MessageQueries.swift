import Crypto
import Foundation
import GRDB

extension HistoryDatabase {
    /// Stores messages a chat client received live (`source = local`); existing IDs are kept.
    public func insertLocalMessages(_ messages: [StoredMessage]) throws {
        try pool.write { db in
            let statement = try db.makeStatement(sql: """
                INSERT OR IGNORE INTO message (id, community_id, chat_id, content_topic, author, type, clock,
                                               timestamp, payload, text, third_party_id, source, archive_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'local', NULL)
                """)
            for message in messages {
                try statement.execute(arguments: [
                    message.id, message.communityID, message.chatID, message.contentTopic, message.author,
                    message.type, message.clock.map { Int64(bitPattern: $0) }, message.timestamp, message.payload,
                    message.text, message.thirdPartyID,
                ])
            }
        }
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
