import Foundation
import GRDB

/// An encrypted message of an imported archive whose key the member does not hold: the archived
/// entry, raw, and the key it needs. Stored with its archive, in the transaction that publishes
/// it; opened, verified and stored as the archive's once the key comes (`releaseHeld`).
public struct HeldMessage: Sendable, Equatable {
    /// `0x` + keccak256 of `entry`: the same message held twice is held once.
    public var entryID: String
    public var groupID: String
    public var keyID: String
    /// A serialized `ArchivedWakuMessage` (a segmented message reassembled).
    public var entry: Data

    public init(entryID: String, groupID: String, keyID: String, entry: Data) {
        self.entryID = entryID
        self.groupID = groupID
        self.keyID = keyID
        self.entry = entry
    }
}

/// An imported archive's messages held for keys, with the archive's range (a released message
/// must lie in it, as an imported one must).
public struct HeldArchive: Sendable, Equatable {
    public var archiveID: String
    public var communityID: String
    /// Unix seconds, `[from, to)`.
    public var from: UInt64
    public var to: UInt64
    public var messages: [HeldMessage]
}

extension HistoryDatabase {
    /// The archives holding messages for any of `keyIDs` (`0x` hex), with those messages; of
    /// one community, or of all when `communityID` is nil.
    ///
    /// Throws a GRDB `DatabaseError` when the database cannot be read.
    public func heldArchives(keyIDs: Set<String>, communityID: String? = nil) throws -> [HeldArchive] {
        guard !keyIDs.isEmpty else { return [] }
        return try pool.read { db in
            guard try db.tableExists("held_message") else { return [] }
            var sql = """
                SELECT h.*, a.from_time, a.to_time FROM held_message AS h
                JOIN imported_archive AS a ON a.id = h.archive_id AND a.community_id = h.community_id
                WHERE h.key_id IN (\(keyIDs.map { _ in "?" }.joined(separator: ",")))
                """
            var arguments = StatementArguments(Array(keyIDs))
            if let communityID {
                sql += " AND h.community_id = ?"
                arguments += [communityID]
            }
            sql += " ORDER BY h.community_id, a.from_time, h.archive_id, h.entry_id"
            var archives: [HeldArchive] = []
            for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                let message = HeldMessage(entryID: row["entry_id"], groupID: row["group_id"], keyID: row["key_id"], entry: row["entry"])
                let archiveID: String = row["archive_id"], community: String = row["community_id"]
                if archives.last?.archiveID == archiveID && archives.last?.communityID == community {
                    archives[archives.count - 1].messages.append(message)
                } else {
                    archives.append(HeldArchive(archiveID: archiveID, communityID: community, from: UInt64(row["from_time"] as Int64),
                                                to: UInt64(row["to_time"] as Int64), messages: [message]))
                }
            }
            return archives
        }
    }

    /// Stores `messages`, opened from an archive's held messages, as the archive's (a local
    /// copy with the same ID is replaced, as an import replaces it), ends the hold of
    /// `released` (opened, or found bad: `rejected` counts those by reason), and updates the
    /// archive's counts, in one transaction.
    ///
    /// Throws a GRDB `DatabaseError` when the database cannot be written; then nothing changed.
    @discardableResult
    public func releaseHeld(_ archive: HeldArchive, messages: [StoredMessage], released: [String], rejected: [String: Int]) throws -> HydrationCounts {
        try pool.write { db in
            var counts = HydrationCounts()
            let existing = try db.makeStatement(sql: """
                SELECT is_archived FROM message_row WHERE id = ? AND community_ref = (SELECT ref FROM community_ref WHERE value = ?)
                """)
            let removeLocal = try db.makeStatement(sql: """
                DELETE FROM message_row WHERE id = ? AND is_archived = 0 AND community_ref = (SELECT ref FROM community_ref WHERE value = ?)
                """)
            let insert = try db.makeStatement(sql: """
                INSERT INTO message (id, community_id, chat_id, content_topic, author, type, clock,
                                     timestamp, payload, text, third_party_id, source, archive_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'archive', ?)
                """)
            for message in messages {
                switch try Bool.fetchOne(existing, arguments: [message.id, archive.communityID]) {
                case true?:
                    // Already an archive's message (another archive holds it too): it stays
                    // that archive's, and is not counted as this one's.
                    continue
                case false?:
                    try removeLocal.execute(arguments: [message.id, archive.communityID])
                    counts.replaced += 1
                case nil:
                    counts.stored += 1
                }
                try insert.execute(arguments: [
                    message.id, archive.communityID, message.chatID, message.contentTopic, message.author, message.type,
                    message.clock.map { Int64(bitPattern: $0) }, message.timestamp, message.payload, message.text,
                    message.thirdPartyID, archive.archiveID,
                ])
            }
            for entryID in released {
                try db.execute(sql: "DELETE FROM held_message WHERE community_id = ? AND archive_id = ? AND entry_id = ?",
                               arguments: [archive.communityID, archive.archiveID, entryID])
            }
            // The archive's record: its held messages are no longer "key unavailable".
            if let row = try Row.fetchOne(db, sql: "SELECT rejections FROM imported_archive WHERE id = ? AND community_id = ?",
                                          arguments: [archive.archiveID, archive.communityID]) {
                var rejections = (try? JSONDecoder().decode([String: Int].self, from: Data((row["rejections"] as String? ?? "{}").utf8))) ?? [:]
                let unavailable = "encrypted-key-unavailable"
                rejections[unavailable] = max(0, (rejections[unavailable] ?? 0) - released.count)
                if rejections[unavailable] == 0 { rejections[unavailable] = nil }
                rejections.merge(rejected, uniquingKeysWith: +)
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                try db.execute(sql: """
                    UPDATE imported_archive SET stored_count = stored_count + ?, replaced_count = replaced_count + ?,
                        rejected_count = ?, rejections = ?
                    WHERE id = ? AND community_id = ?
                    """, arguments: [counts.stored, counts.replaced, rejections.values.reduce(0, +),
                                     String(decoding: try encoder.encode(rejections), as: UTF8.self), archive.archiveID, archive.communityID])
            }
            return counts
        }
    }
}
