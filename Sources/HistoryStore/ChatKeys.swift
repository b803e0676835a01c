import Foundation
import GRDB

/// The public chats' symmetric keys kept between starts (`chat_key`, v15): PBKDF2 of each chat
/// ID, which an agent with a thousand communities would otherwise derive three thousand times
/// at every start. The store only keeps bytes; deriving them is `StatusCrypto`'s.
extension HistoryDatabase {
    /// Every kept key, by chat ID.
    ///
    /// ```swift
    /// ChatSymmetricKey.remember(try await database.chatKeys())
    /// ```
    ///
    /// Throws `DatabaseError` when the database cannot be read.
    public func chatKeys() async throws -> [String: [UInt8]] {
        try await pool.read { db in
            var keys: [String: [UInt8]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT chat_id, key FROM chat_key") {
                keys[row["chat_id"]] = [UInt8](row["key"] as Data)
            }
            return keys
        }
    }

    /// Keeps `keys` (a chat ID already kept keeps its key: a chat's key never changes).
    /// Throws `DatabaseError` (disk full, busy past the timeout).
    public func keepChatKeys(_ keys: [String: [UInt8]]) async throws {
        guard !keys.isEmpty else { return }
        try await pool.write { db in
            let insert = try db.makeStatement(sql: "INSERT INTO chat_key (chat_id, key) VALUES (?, ?) ON CONFLICT DO NOTHING")
            for (chatID, key) in keys { try insert.execute(arguments: [chatID, Data(key)]) }
        }
    }
}
