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

    /// What opening one held message gave: the message to store, or why it is not stored.
    public enum Opened: Sendable {
        case message(StoredMessage)
        case rejected(reason: String)
    }

    /// What `releaseHeld` changed.
    public struct ReleaseCounts: Sendable, Equatable {
        /// New messages.
        public var stored = 0
        /// Local copies overwritten by the archive's version (replace mode).
        public var replaced = 0
        /// Held messages found bad when opened, by reason.
        public var rejected: [String: Int] = [:]

        public init() {}
    }

    /// Stores what opening an archive's held messages gave (`opened`: entry ID → outcome) as the
    /// archive's messages, in one transaction, deciding everything inside it: nothing when the
    /// archive is no longer imported (purged meanwhile); an entry another release took already
    /// is skipped; a message whose ID an import in progress holds stays held (that import may
    /// still be taken back); a local copy is replaced in replace mode and left as it is in merge
    /// mode, as the import would have done; the archive's counts follow.
    ///
    /// Throws a GRDB `DatabaseError` when the database cannot be written; then nothing changed.
    @discardableResult
    public func releaseHeld(_ archive: HeldArchive, opened: [(entryID: String, outcome: Opened)]) throws -> ReleaseCounts {
        try pool.write { db in
            var counts = ReleaseCounts()
            guard let record = try Row.fetchOne(db, sql: "SELECT mode, rejections FROM imported_archive WHERE id = ? AND community_id = ?",
                                                arguments: [archive.archiveID, archive.communityID])
            else { return counts }
            let merge = (record["mode"] as String?) == HydrationMode.merge.rawValue
            let existing = try db.makeStatement(sql: """
                SELECT m.is_archived, a.pending_owner FROM message_row AS m LEFT JOIN archive_ref AS a ON a.ref = m.archive_ref
                WHERE m.id = ? AND m.community_ref = (SELECT ref FROM community_ref WHERE value = ?)
                """)
            let take = try db.makeStatement(sql: "DELETE FROM held_message WHERE community_id = ? AND archive_id = ? AND entry_id = ?")
            let removeLocal = try db.makeStatement(sql: """
                DELETE FROM message_row WHERE id = ? AND is_archived = 0 AND community_ref = (SELECT ref FROM community_ref WHERE value = ?)
                """)
            let insert = try db.makeStatement(sql: """
                INSERT INTO message (id, community_id, chat_id, content_topic, author, type, clock,
                                     timestamp, payload, text, third_party_id, source, archive_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'archive', ?)
                """)
            var taken = 0
            for (entryID, outcome) in opened {
                var row: Row?
                if case .message(let message) = outcome {
                    row = try Row.fetchOne(existing, arguments: [message.id, archive.communityID])
                    // An import in progress holds this ID: it may yet be taken back, so keep the entry held.
                    if let row, (row["pending_owner"] as String?) != nil { continue }
                }
                // Taken by this release only if still held (another release may have run).
                try take.execute(arguments: [archive.communityID, archive.archiveID, entryID])
                guard db.changesCount == 1 else { continue }
                taken += 1
                switch outcome {
                case .rejected(let reason):
                    counts.rejected[reason, default: 0] += 1
                case .message(let message):
                    if let row {
                        // Another archive's message already: it stays that archive's. A local
                        // copy: replaced in replace mode, kept in merge mode (not counted).
                        guard (row["is_archived"] as Bool) == false, !merge else { continue }
                        try removeLocal.execute(arguments: [message.id, archive.communityID])
                        counts.replaced += 1
                    } else {
                        counts.stored += 1
                    }
                    try insert.execute(arguments: [
                        message.id, archive.communityID, message.chatID, message.contentTopic, message.author, message.type,
                        message.clock.map { Int64(bitPattern: $0) }, message.timestamp, message.payload, message.text,
                        message.thirdPartyID, archive.archiveID,
                    ])
                }
            }
            guard taken > 0 else { return counts }
            // The archive's record: what was taken is no longer "key unavailable".
            var rejections = try JSONDecoder().decode([String: Int].self, from: Data((record["rejections"] as String? ?? "{}").utf8))
            let unavailable = "encrypted-key-unavailable"
            rejections[unavailable] = max(0, (rejections[unavailable] ?? 0) - taken)
            if rejections[unavailable] == 0 { rejections[unavailable] = nil }
            rejections.merge(counts.rejected, uniquingKeysWith: +)
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            try db.execute(sql: """
                UPDATE imported_archive SET stored_count = stored_count + ?, replaced_count = replaced_count + ?,
                    rejected_count = ?, rejections = ?
                WHERE id = ? AND community_id = ?
                """, arguments: [counts.stored, counts.replaced, rejections.values.reduce(0, +),
                                 String(decoding: try encoder.encode(rejections), as: UTF8.self), archive.archiveID, archive.communityID])
            return counts
        }
    }
}
