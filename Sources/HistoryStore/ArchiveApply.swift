import Foundation
import GRDB

/// The apply step of an import: copies an archive's staged rows into `message_row` while a chat
/// client beside the agent keeps writing.
///
/// Why in chunks: the copy's cost is the primary-key index. Message IDs are random, so at a
/// million stored messages each 25,000-row archive dirties most of that index's pages (0.4 s,
/// plus a 0.3 s checkpoint, measured), and a client's write would wait for all of it. So the
/// rows are written in transactions of `applyPacing.chunkRows`, with a pause between them
/// (`ApplyPacing` says why), under an archive reference that is
/// *pending* (`archive_ref.pending_owner` names the import's staging file): the `message` view
/// hides those rows. One last short transaction then settles the rows that met a stored copy,
/// removes the local copies the archive replaces, records the archive and publishes the
/// pending reference. A reader still sees the whole archive or none of it, and a crash leaves
/// only hidden rows, which the next import removes (`removeAbandonedPendingRows`).
extension HistoryDatabase {
    /// Applies the staged rows at `staging`. Throws what SQLite throws (busy past the timeout,
    /// disk full), `CancellationError`, or `alreadyImported` (another process imported the
    /// archive meanwhile). On a throw nothing is visible: the pending rows are removed here, or,
    /// if that fails too (a cancelled task may not write), by the next import.
    func apply(
        _ db: Database, staging: String, archive: ArchiveRecord, mode: HydrationMode, force: Bool,
        summary: ArchiveContentSummary
    ) throws -> HydrationCounts {
        // An apply interrupted by a cancellation may not have detached its file.
        if try String.fetchAll(db, sql: "SELECT name FROM pragma_database_list").contains("staging") {
            try db.execute(sql: "DETACH DATABASE staging")
        }
        try removeAbandonedPendingRows(db)
        try db.execute(sql: "ATTACH DATABASE ? AS staging", arguments: [staging])
        let counts = Result { try applyAttached(db, owner: staging, archive: archive, mode: mode, force: force, summary: summary) }
        do { try db.execute(sql: "DETACH DATABASE staging") } catch {
            // After a cancellation GRDB refuses every statement but ROLLBACK: the file stays
            // attached (and its disk space held) until the next apply detaches it first. The
            // import's own outcome, committed or not, is what the caller must see.
            logger.notice("the staging file stays attached until the next import", metadata: ["path": "\(staging)", "error": "\(error)"])
        }
        return try counts.get()
    }

    private func applyAttached(
        _ db: Database, owner: String, archive: ArchiveRecord, mode: HydrationMode, force: Bool,
        summary: ArchiveContentSummary
    ) throws -> HydrationCounts {
        if !force, try Self.isImported(db, archiveID: archive.id) { throw HistoryStoreError.alreadyImported(archiveID: archive.id) }
        // Per connection, outside the history database: the rows the chunks set aside.
        try db.execute(sql: "CREATE TEMP TABLE IF NOT EXISTS settled_seq (seq INTEGER PRIMARY KEY); DELETE FROM temp.settled_seq")
        let pending = try lockedTransaction(db) { try Self.createPendingArchive(db, owner: owner) }
        do {
            let lastSeq = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM staging.staged_message") ?? 0
            var first: Int64 = 1
            while first <= lastSeq {
                let last = first + applyPacing.chunkRows - 1
                try lockedTransaction(db, thenPause: true) { try Self.copyChunk(db, seq: first...last, pending: pending, mode: mode) }
                first = last + 1
            }
            return try lockedTransaction(db) {
                if !force, try Self.isImported(db, archiveID: archive.id) {
                    throw HistoryStoreError.alreadyImported(archiveID: archive.id)
                }
                var counts = try Self.settleAndPublish(db, pending: pending, archiveID: archive.id, mode: mode)
                if mode == .replace && !summary.contentTopics.isEmpty {
                    counts.removed = try Self.removeLocalCopies(db, archive: archive, summary: summary)
                }
                try Self.record(db, archive: archive, mode: mode, summary: summary, counts: counts)
                return counts
            }
        } catch {
            do { try removePendingRows(db, pending: pending, owner: owner) } catch let cleanup {
                logger.notice("an import's hidden rows stay until the next import removes them",
                              metadata: ["archive": "\(archive.id)", "error": "\(cleanup)"])
            }
            throw error
        }
    }

    /// Runs `work` in a `BEGIN IMMEDIATE` transaction and records how long it held the write
    /// lock (the benchmarks and the agent's metrics report the longest). `thenPause`: when the
    /// hold was long, leaves the lock free for `applyPacing.pause`, for a chat client's write.
    private func lockedTransaction<T>(_ db: Database, thenPause: Bool = false, _ work: () throws -> T) throws -> T {
        var result: T?
        var locked: ContinuousClock.Instant?
        try db.inTransaction(.immediate) {
            locked = .now
            result = try work()
            return .commit
        }
        if let locked {
            let held = ContinuousClock.now - locked
            importLocks.withLock { $0.record(held) }
            if thenPause && held > applyPacing.pauseAfterHoldsOver { applyPacing.sleep(applyPacing.pause) }
        }
        guard let result else { preconditionFailure("a committed transaction ran its work") }
        return result
    }

    /// Names what the rows refer to (one community, a few chats and topics) and creates the
    /// pending archive reference the chunks write under.
    private static func createPendingArchive(_ db: Database, owner: String) throws -> Int64 {
        try db.execute(sql: """
            INSERT INTO main.community_ref (value) SELECT DISTINCT community_id FROM staging.staged_message
            WHERE true ON CONFLICT DO NOTHING
            """)
        try db.execute(sql: """
            INSERT INTO main.chat_ref (value) SELECT DISTINCT chat_id FROM staging.staged_message
            WHERE chat_id IS NOT NULL ON CONFLICT DO NOTHING
            """)
        try db.execute(sql: """
            INSERT INTO main.topic_ref (value) SELECT DISTINCT content_topic FROM staging.staged_message
            WHERE true ON CONFLICT DO NOTHING
            """)
        try db.execute(sql: "INSERT INTO main.archive_ref (value, pending_owner) VALUES (?, ?)",
                       arguments: ["pending: " + owner, owner])
        return db.lastInsertedRowID
    }

    /// Copies the staged rows `seq` whose key is not stored yet, as hidden rows of `pending`.
    /// A row whose key is stored already as another's (a local copy, another archive's row) is
    /// listed in `temp.settled_seq` for the last transaction, which decides what the archive
    /// does to it. Of two copies of one message in the archive, the later wins in replace mode
    /// (as in the archive), the first in merge mode.
    private static func copyChunk(_ db: Database, seq: ClosedRange<Int64>, pending: Int64, mode: HydrationMode) throws {
        try db.execute(sql: """
            INSERT INTO temp.settled_seq
            SELECT s.seq FROM staging.staged_message AS s
            JOIN main.community_ref AS c ON c.value = s.community_id
            JOIN main.message_row AS m ON m.community_ref = c.ref AND m.id = s.id
            WHERE s.seq BETWEEN ? AND ? AND m.archive_ref IS NOT ?
            """, arguments: [seq.lowerBound, seq.upperBound, pending])
        // In archive order, which is time order: the two time-ordered indexes are then written
        // page after page. (Key order, tried, was 1.6x slower: IDs are random.)
        try db.execute(sql: """
            INSERT INTO main.message_row (community_ref, id, chat_ref, topic_ref, author, type, clock, timestamp,
                                          payload, text, third_party_id, is_archived, archive_ref)
            \(stagedRows(archiveRef: "?"))
            WHERE s.seq BETWEEN ? AND ? ORDER BY s.seq
            ON CONFLICT(community_ref, id) \(mode == .merge ? "DO NOTHING" : overwrite(when: "message_row.archive_ref = excluded.archive_ref"))
            """, arguments: [pending, seq.lowerBound, seq.upperBound])
    }

    /// The last transaction, kept short: it touches only the rows the chunks set aside (usually
    /// the local copies the archive replaces). It counts what the archive did, per distinct key;
    /// writes the set-aside rows (a local copy is overwritten in replace mode, another archive's
    /// row is left as it is, a pending row of an import that will never publish is taken over);
    /// then publishes the pending reference under the archive's ID.
    private static func settleAndPublish(_ db: Database, pending: Int64, archiveID: String, mode: HydrationMode) throws -> HydrationCounts {
        // Keys the chunks stored are new (each once, whatever its copies); of the set-aside
        // keys, one no longer stored, or a pending row of another import, is new too.
        let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM staging.staged_message") ?? 0
        let inserted = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM main.message_row WHERE archive_ref = ?", arguments: [pending]) ?? 0
        let row = try Row.fetchOne(db, sql: """
            SELECT TOTAL(m.rowid IS NULL OR (a.pending_owner IS NOT NULL AND m.archive_ref IS NOT ?)), TOTAL(m.is_archived = 0)
            FROM (SELECT DISTINCT s.community_id, s.id FROM temp.settled_seq AS settled
                  JOIN staging.staged_message AS s ON s.seq = settled.seq) AS s
            JOIN main.community_ref AS c ON c.value = s.community_id
            LEFT JOIN main.message_row AS m ON m.community_ref = c.ref AND m.id = s.id
            LEFT JOIN main.archive_ref AS a ON a.ref = m.archive_ref
            """, arguments: [pending])!
        var counts = HydrationCounts(stored: inserted + Int(row[0] as Double))
        if mode == .replace { counts.replaced = Int(row[1] as Double) }
        counts.unchanged = total - counts.stored - counts.replaced

        // A forced import of an archive imported before keeps the archive's reference; a first
        // import's pending reference becomes the archive's.
        let published = try Int64.fetchOne(db, sql: "SELECT ref FROM main.archive_ref WHERE value = ?", arguments: [archiveID])
        let archiveRef = published ?? pending
        let otherPending = "message_row.archive_ref IN (SELECT ref FROM main.archive_ref WHERE pending_owner IS NOT NULL)"
        let takeOver = mode == .merge
            ? otherPending
            : "message_row.is_archived = 0 OR message_row.archive_ref = excluded.archive_ref OR \(otherPending)"
        try db.execute(sql: """
            INSERT INTO main.message_row (community_ref, id, chat_ref, topic_ref, author, type, clock, timestamp,
                                          payload, text, third_party_id, is_archived, archive_ref)
            \(stagedRows(archiveRef: "?"))
            JOIN temp.settled_seq AS settled ON settled.seq = s.seq
            WHERE true ORDER BY s.seq
            ON CONFLICT(community_ref, id) \(overwrite(when: takeOver))
            """, arguments: [archiveRef])

        if let published {
            try db.execute(sql: "UPDATE main.message_row SET archive_ref = ? WHERE archive_ref = ?", arguments: [published, pending])
            try db.execute(sql: "DELETE FROM main.archive_ref WHERE ref = ?", arguments: [pending])
        } else {
            try db.execute(sql: "UPDATE main.archive_ref SET value = ?, pending_owner = NULL WHERE ref = ?", arguments: [archiveID, pending])
        }
        return counts
    }

    /// The staged rows as `message_row` columns (`s` is the staged row), written as archived
    /// rows of the reference bound to `archiveRef`.
    private static func stagedRows(archiveRef: String) -> String {
        """
        SELECT c.ref, s.id, h.ref, t.ref, s.author, s.type, s.clock, s.timestamp,
               s.payload, s.text, s.third_party_id, 1, \(archiveRef)
        FROM staging.staged_message AS s
        JOIN main.community_ref AS c ON c.value = s.community_id
        LEFT JOIN main.chat_ref AS h ON h.value = s.chat_id
        JOIN main.topic_ref AS t ON t.value = s.content_topic
        """
    }

    /// The upsert that makes a stored row the archive's, when `condition` holds.
    private static func overwrite(when condition: String) -> String {
        """
        DO UPDATE SET
            chat_ref = excluded.chat_ref, topic_ref = excluded.topic_ref, author = excluded.author,
            type = excluded.type, clock = excluded.clock, timestamp = excluded.timestamp, payload = excluded.payload,
            text = excluded.text, third_party_id = excluded.third_party_id,
            is_archived = 1, archive_ref = excluded.archive_ref
        WHERE \(condition)
        """
    }

    /// Every message of the archive is now an archived row (a local copy of it was upserted into
    /// one), so the local rows left in its range are exactly the copies the archive does not
    /// contain: no set of the archive's IDs is needed.
    private static func removeLocalCopies(_ db: Database, archive: ArchiveRecord, summary: ArchiveContentSummary) throws -> Int {
        let topics = summary.contentTopics.map { _ in "?" }.joined(separator: ", ")
        var arguments: StatementArguments = [archive.communityID]
        arguments += StatementArguments(summary.contentTopics)
        arguments += [Int64(summary.from) * 1000, Int64(summary.to) * 1000]
        try db.execute(sql: """
            DELETE FROM main.message_row
            WHERE community_ref = (SELECT ref FROM main.community_ref WHERE value = ?) AND is_archived = 0
              AND topic_ref IN (SELECT ref FROM main.topic_ref WHERE value IN (\(topics)))
              AND timestamp >= ? AND timestamp < ?
            """, arguments: arguments)
        return db.changesCount
    }

    /// Removes the hidden rows of imports that ended without publishing them (killed, or a
    /// cleanup that failed), in chunks, as the copy wrote them. An import still running holds
    /// its staging file locked and is left alone, in this process or another.
    func removeAbandonedPendingRows(_ db: Database) throws {
        let pendings = try Row.fetchAll(db, sql: "SELECT ref, pending_owner FROM main.archive_ref WHERE pending_owner IS NOT NULL")
        for row in pendings {
            let owner: String = row["pending_owner"]
            guard !ArchiveStaging.isHeld(path: owner) else { continue }
            try removePendingRows(db, pending: row["ref"], owner: owner)
            logger.info("removed the hidden rows of an import that ended without publishing them", metadata: ["owner": "\(owner)"])
        }
    }

    /// Deletes `pending`'s rows and then the reference, each transaction checking that the
    /// reference is still pending under `owner` (another process may have published it).
    private func removePendingRows(_ db: Database, pending: Int64, owner: String) throws {
        var removed = 0
        repeat {
            removed = try lockedTransaction(db, thenPause: true) {
                try db.execute(sql: """
                    DELETE FROM main.message_row WHERE rowid IN (
                        SELECT rowid FROM main.message_row WHERE archive_ref = ?
                        AND EXISTS (SELECT 1 FROM main.archive_ref WHERE ref = ? AND pending_owner = ?)
                        LIMIT ?)
                    """, arguments: [pending, pending, owner, applyPacing.chunkRows])
                return db.changesCount
            }
        } while removed > 0
        try lockedTransaction(db) {
            try db.execute(sql: "DELETE FROM main.archive_ref WHERE ref = ? AND pending_owner = ?", arguments: [pending, owner])
        }
    }
}
