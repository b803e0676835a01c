import Foundation
import GRDB

/// How an archive's messages meet what is already stored.
public enum HydrationMode: String, Sendable, Codable, CaseIterable {
    /// The spec's canonical history: archive messages replace local copies with the same
    /// ID, and local copies in the archive's time range and topics that the archive does
    /// not contain are removed.
    case replace
    /// status-go's behaviour: add what is missing, change and delete nothing.
    case merge
}

/// What the store needs to know of an archive before decoding it.
public struct ArchiveRecord: Sendable, Hashable {
    public var id: String
    public var communityID: String
    public var cid: String

    public init(id: String, communityID: String, cid: String) {
        self.id = id
        self.communityID = communityID
        self.cid = cid
    }
}

/// What decoding found, handed back by the hydration body at the end.
public struct ArchiveContentSummary: Sendable {
    /// Unix seconds, `[from, to)`.
    public var from: UInt64
    public var to: UInt64
    /// `/waku/1/0x…/rfc26` strings.
    public var contentTopics: [String]
    /// Archived entries read, stored or not.
    public var entryCount: Int
    /// Messages not stored, by reason.
    public var rejections: [String: Int]

    public init(from: UInt64, to: UInt64, contentTopics: [String], entryCount: Int, rejections: [String: Int]) {
        self.from = from
        self.to = to
        self.contentTopics = contentTopics
        self.entryCount = entryCount
        self.rejections = rejections
    }
}

/// What one archive's hydration changed.
public struct HydrationCounts: Sendable, Equatable, Codable {
    /// New messages.
    public var stored = 0
    /// Local copies overwritten by the archive's version.
    public var replaced = 0
    /// Already stored from an archive (or, in merge mode, already stored at all).
    public var unchanged = 0
    /// Local copies in the archive's range that the archive does not contain.
    public var removed = 0

    public init(stored: Int = 0, replaced: Int = 0, unchanged: Int = 0, removed: Int = 0) {
        self.stored = stored
        self.replaced = replaced
        self.unchanged = unchanged
        self.removed = removed
    }

    public static func += (lhs: inout HydrationCounts, rhs: HydrationCounts) {
        lhs.stored += rhs.stored
        lhs.replaced += rhs.replaced
        lhs.unchanged += rhs.unchanged
        lhs.removed += rhs.removed
    }
}

/// Writes one archive's messages inside the hydration transaction. Only valid inside the
/// `hydrate` body that handed it out.
public final class ArchiveHydrationWriter {
    private let lookup: Statement
    private let upsert: Statement
    private let mode: HydrationMode
    private let archiveID: String
    fileprivate(set) var counts = HydrationCounts()

    /// What a message's row already is, before the archive writes it.
    private enum Existing: Int {
        /// The chat client's copy: the archive's version replaces it.
        case localCopy = 0
        /// Written by this archive before (an import again, or the same message twice).
        case thisArchive = 1
        /// Another archive's (or one from before archive IDs were recorded): left as it is.
        case otherArchive = 2
    }

    fileprivate init(db: Database, mode: HydrationMode, archiveID: String) throws {
        self.mode = mode
        self.archiveID = archiveID
        // One integer instead of a row: this runs once per archived message.
        lookup = try db.makeStatement(sql: """
            SELECT CASE WHEN source = 'local' THEN \(Existing.localCopy.rawValue)
                        WHEN archive_id = ? THEN \(Existing.thisArchive.rawValue)
                        ELSE \(Existing.otherArchive.rawValue) END
            FROM message WHERE community_id = ? AND id = ?
            """)
        upsert = try db.makeStatement(sql: """
            INSERT INTO message (id, community_id, chat_id, content_topic, author, type, clock, timestamp,
                                 payload, text, third_party_id, source, archive_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'archive', ?)
            ON CONFLICT(community_id, id) DO UPDATE SET
                chat_id = excluded.chat_id,
                content_topic = excluded.content_topic, author = excluded.author, type = excluded.type,
                clock = excluded.clock, timestamp = excluded.timestamp, payload = excluded.payload,
                text = excluded.text, third_party_id = excluded.third_party_id,
                source = 'archive', archive_id = excluded.archive_id
            """)
    }

    /// Stores one archive message (its `source` and `archiveID` are set here). A row of the
    /// same community and ID that another archive stored is left as it is: each archive speaks
    /// for its own rows and the local copies in its range, never for another archive's.
    public func write(_ message: StoredMessage) throws {
        let existing = try Int.fetchOne(lookup, arguments: [archiveID, message.communityID, message.id]).flatMap(Existing.init(rawValue:))
        if mode == .merge && existing != nil {
            counts.unchanged += 1
            return
        }
        if existing == .otherArchive {
            counts.unchanged += 1
            return
        }
        try upsert.execute(arguments: [
            message.id, message.communityID, message.chatID, message.contentTopic, message.author,
            message.type, message.clock.map { Int64(bitPattern: $0) }, message.timestamp, message.payload,
            message.text, message.thirdPartyID, archiveID,
        ])
        switch existing {
        case nil: counts.stored += 1
        case .localCopy?: counts.replaced += 1
        case .thisArchive?, .otherArchive?: counts.unchanged += 1
        }
    }
}

extension HistoryDatabase {
    /// Imports one archive in **one transaction**: `body` decodes the archive and writes its
    /// messages; then, in replace mode, local copies in `[from, to)` on the archive's topics
    /// that the archive did not contain are deleted; then the archive is recorded as
    /// imported. If `body` or any step throws, the database is exactly as it was before.
    ///
    /// ```swift
    /// let counts = try database.hydrate(archive: record, mode: .replace) { writer in
    ///     for message in decoded { try writer.write(message) }
    ///     return ArchiveContentSummary(from: from, to: to, contentTopics: topics, entryCount: n, rejections: [:])
    /// }
    /// ```
    public func hydrate(
        archive: ArchiveRecord, mode: HydrationMode, force: Bool = false,
        body: (ArchiveHydrationWriter) throws -> ArchiveContentSummary
    ) throws -> HydrationCounts {
        try pool.writeWithoutTransaction { db in try Self.hydrate(db, archive: archive, mode: mode, force: force, body: body) }
    }

    /// `hydrate` on the database's writer without blocking a thread of Swift's cooperative pool
    /// (an import holds the writer for the whole archive). Cancelling the calling task interrupts
    /// SQLite: the transaction rolls back and this throws `CancellationError`, so a shutdown never
    /// waits for a large archive to finish.
    public func hydrate(
        archive: ArchiveRecord, mode: HydrationMode, force: Bool = false,
        body: @escaping @Sendable (ArchiveHydrationWriter) throws -> ArchiveContentSummary
    ) async throws -> HydrationCounts {
        try await pool.writeWithoutTransaction { db in try Self.hydrate(db, archive: archive, mode: mode, force: force, body: body) }
    }

    static func hydrate(
        _ db: Database, archive: ArchiveRecord, mode: HydrationMode, force: Bool,
        body: (ArchiveHydrationWriter) throws -> ArchiveContentSummary
    ) throws -> HydrationCounts {
            var counts = HydrationCounts()
            try db.inTransaction(.immediate) {
                if !force, try Self.isImported(db, archiveID: archive.id) {
                    throw HistoryStoreError.alreadyImported(archiveID: archive.id)
                }
                let writer = try ArchiveHydrationWriter(db: db, mode: mode, archiveID: archive.id)
                let summary = try body(writer)
                counts = writer.counts
                if mode == .replace && !summary.contentTopics.isEmpty {
                    // Every message of the archive is now an `archive` row (a local copy of it was
                    // upserted into one), so the `local` rows left in its range are exactly the copies
                    // the archive does not contain: no set of the archive's IDs is needed.
                    let topics = summary.contentTopics.map { _ in "?" }.joined(separator: ", ")
                    var arguments: StatementArguments = [archive.communityID]
                    arguments += StatementArguments(summary.contentTopics)
                    arguments += [Int64(summary.from) * 1000, Int64(summary.to) * 1000]
                    try db.execute(sql: """
                        DELETE FROM message
                        WHERE community_id = ? AND source = 'local' AND content_topic IN (\(topics))
                          AND timestamp >= ? AND timestamp < ?
                        """, arguments: arguments)
                    counts.removed = db.changesCount
                }
                try Self.record(db, archive: archive, mode: mode, summary: summary, counts: counts)
                return .commit
            }
            return counts
    }

    public func isImported(archiveID: String) throws -> Bool {
        try pool.read { try Self.isImported($0, archiveID: archiveID) }
    }

    static func isImported(_ db: Database, archiveID: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM imported_archive WHERE id = ?", arguments: [archiveID]) ?? false
    }

    private static func record(
        _ db: Database, archive: ArchiveRecord, mode: HydrationMode, summary: ArchiveContentSummary,
        counts: HydrationCounts
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let topics = String(decoding: try encoder.encode(summary.contentTopics), as: UTF8.self)
        let rejections = String(decoding: try encoder.encode(summary.rejections), as: UTF8.self)
        try db.execute(sql: """
            INSERT OR REPLACE INTO imported_archive
                (id, community_id, cid, from_time, to_time, content_topics, mode, message_count,
                 stored_count, replaced_count, unchanged_count, removed_count, rejected_count, rejections, imported_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [
                archive.id, archive.communityID, archive.cid, Int64(summary.from), Int64(summary.to), topics,
                mode.rawValue, summary.entryCount, counts.stored, counts.replaced, counts.unchanged, counts.removed,
                summary.rejections.values.reduce(0, +), rejections, Int64(Date().timeIntervalSince1970 * 1000),
            ])
        // In the same transaction: an archive is never both imported and waiting for import or
        // failed, whenever the process dies (only its file can be left, `sweepArchives` removes it).
        try db.execute(sql: "DELETE FROM downloaded_archive WHERE id = ?", arguments: [archive.id])
        try db.execute(sql: "DELETE FROM archive_failure WHERE id = ?", arguments: [archive.id])
    }
}
