import Foundation
import GRDB

/// The apply step of an import: writes an archive's staged rows into `message_row` while a
/// chat client beside the agent keeps writing.
///
/// Why in chunks: the cost is the primary-key index. Message IDs are random, so at a million
/// stored messages each 25,000-row archive dirties most of that index's pages (0.4 s, plus a
/// 0.3 s checkpoint, measured), and a client's write would wait for all of it. So the rows are
/// written in transactions of `applyPacing.chunkRows`, with a pause between them (`ApplyPacing`
/// says why), under an archive reference that is *pending* (`archive_ref.pending_owner` names
/// the import's staging file). The `message` view hides the new rows, and shows a local copy
/// the archive replaced as the local copy it was (`replaced_local`). One last short transaction
/// counts, removes the local copies the archive does not contain, records the archive and
/// publishes the reference. A reader sees the whole archive or none of it; a crash leaves only
/// hidden rows and replaced local copies, which the next import takes back
/// (`removeAbandonedPendingRows`).
extension HistoryDatabase {
    /// Applies the rows staged at `staging`, following `progress` a chunk behind, then
    /// publishes them. Throws what staging ended with, what SQLite throws (busy past the
    /// timeout, disk full), `CancellationError` once `progress` is stopped, or `alreadyImported`
    /// (another process imported the archive meanwhile). On a throw nothing is visible: the
    /// pending rows are taken back here, or, if that fails too, by the next import.
    ///
    /// Each transaction is an access of its own to the database's writer, so the process's
    /// other writes (another community's import, a download's record) wait for one chunk too.
    func apply(
        staging: String, archive: ArchiveRecord, mode: HydrationMode, force: Bool, progress: StagingProgress
    ) throws -> HydrationCounts {
        // One import of this database applies at a time (the next one's staging goes on): so the
        // only pending rows another import can meet are those of an import that has ended,
        // which the sweep below takes back first.
        applying.lock()
        defer { applying.unlock() }
        let schema = "staging_\(stagingSchemas.add(1, ordering: .relaxed).newValue)"
        try removeAbandonedPendingRows()
        try attachReadOnly(staging, as: schema)
        let counts = Result {
            try applyAttached(schema: schema, owner: staging, archive: archive, mode: mode, force: force, progress: progress)
        }
        do { try pool.writeWithoutTransaction { try $0.execute(sql: "DETACH DATABASE \(schema)") } } catch {
            // The import's own outcome, committed or not, is what the caller must see; the file
            // stays attached (its disk space held) until the process ends.
            logger.notice("cannot detach an import's staging file", metadata: ["path": "\(staging)", "error": "\(error)"])
        }
        return try counts.get()
    }

    /// Attaches the staging file read-only. Read-write, every `BEGIN IMMEDIATE` of the writer
    /// would also take the staging file's write lock (SQLite locks every attached database it
    /// can write), which the staging thread holds while it writes the next chunk.
    /// Whether two paths name one file (relative to the working directory, through symlinks).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        URL(fileURLWithPath: a).standardizedFileURL.resolvingSymlinksInPath().path
            == URL(fileURLWithPath: b).standardizedFileURL.resolvingSymlinksInPath().path
    }

    private func attachReadOnly(_ staging: String, as schema: String) throws {
        // SQLite reads the ATTACH argument as a URI (Debian builds it with SQLITE_USE_URI);
        // checked below, as a build without it would attach a new file named `file:…`.
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        let path = staging.addingPercentEncoding(withAllowedCharacters: allowed) ?? staging
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "ATTACH DATABASE ? AS \(schema)", arguments: ["file:\(path)?mode=ro"])
            let file = try String.fetchOne(db, sql: "SELECT file FROM pragma_database_list WHERE name = ?", arguments: [schema])
            // SQLite names the file by its full path: a database opened by a relative path (`--db
            // history.sqlite`) has a relative staging path, and a symlinked directory another.
            guard let file, Self.sameFile(file, staging) else {
                try db.execute(sql: "DETACH DATABASE \(schema)")
                throw HistoryStoreError.cannotAttachStaging(path: staging, attached: file ?? "nothing")
            }
        }
    }

    private func applyAttached(
        schema: String, owner: String, archive: ArchiveRecord, mode: HydrationMode, force: Bool, progress: StagingProgress
    ) throws -> HydrationCounts {
        let (pending, published) = try writeLocked { db in
            if !force, try Self.isImported(db, archiveID: archive.id) { throw HistoryStoreError.alreadyImported(archiveID: archive.id) }
            try db.execute(sql: "INSERT INTO main.archive_ref (value, pending_owner) VALUES (?, ?)", arguments: ["pending: " + owner, owner])
            let pending = db.lastInsertedRowID
            // A forced import of an archive imported before: its rows are rewritten where they are.
            let published = try Int64.fetchOne(db, sql: "SELECT ref FROM main.archive_ref WHERE value = ?", arguments: [archive.id])
            return (pending, published)
        }
        do {
            var first: Int64 = 1
            while true {
                let last = first + applyPacing.chunkRows - 1
                let rows = progress.waitForRows(through: last)
                if progress.isStopped { throw CancellationError() }
                // Staging failed: its error is the import's, and no more rows are copied.
                if rows.failed { _ = try progress.stagingResult() }
                let upTo = min(last, rows.committed)
                if upTo < first {
                    if rows.ended { break } else { continue }
                }
                try writeLocked(thenPause: true) { db in
                    try Self.copyChunk(db, schema: schema, seq: first...upTo, pending: pending, published: published, mode: mode)
                }
                first = upTo + 1
            }
            let summary = try progress.stagingResult()
            return try writeLocked { db in
                if !force, try Self.isImported(db, archiveID: archive.id) {
                    throw HistoryStoreError.alreadyImported(archiveID: archive.id)
                }
                // Still this import's: a sweep takes only a reference whose owner is gone.
                guard try String.fetchOne(db, sql: "SELECT pending_owner FROM main.archive_ref WHERE ref = ?", arguments: [pending]) == owner else {
                    throw HistoryStoreError.pendingRowsTaken(archiveID: archive.id)
                }
                var counts = try Self.countAndPublish(db, schema: schema, pending: pending, archiveID: archive.id)
                if mode == .replace && !summary.contentTopics.isEmpty {
                    counts.removed = try Self.removeLocalCopies(db, archive: archive, summary: summary)
                }
                try Self.record(db, archive: archive, mode: mode, summary: summary, counts: counts)
                return counts
            }
        } catch {
            do { try removePendingRows(pending: pending, owner: owner) } catch let cleanup {
                logger.notice("an import's hidden rows stay until the next import removes them",
                              metadata: ["archive": "\(archive.id)", "error": "\(cleanup)"])
            }
            throw error
        }
    }

    /// Runs `work` in a `BEGIN IMMEDIATE` transaction, in an access of its own to the writer,
    /// and records how long it held the write lock (the benchmarks and the agent's metrics
    /// report the longest). `thenPause`: when the hold was long, leaves the lock free for
    /// afterwards, for a chat client's write (`ApplyPacing`).
    private func writeLocked<T>(thenPause: Bool = false, _ work: (Database) throws -> T) throws -> T {
        var held: Duration = .zero
        let result = try pool.writeWithoutTransaction { db in
            var result: T?
            var locked: ContinuousClock.Instant?
            try db.inTransaction(.immediate) {
                locked = .now
                result = try work(db)
                return .commit
            }
            if let locked { held = .now - locked }
            guard let result else { preconditionFailure("a committed transaction ran its work") }
            return result
        }
        importLocks.withLock { $0.record(held) }
        if thenPause, let pause = applyPacing.pause(afterHolding: held) { applyPacing.sleep(pause) }
        return result
    }

    /// Writes the staged rows `seq` under the pending reference: a new message as a hidden row;
    /// in replace mode, a local copy of it is overwritten with the archive's version and marked
    /// `replaced_local` (the view still shows it as the local copy it was); another archive's
    /// row is left as it is. Of two copies of one message in the archive, the later wins in
    /// replace mode (as in the archive), the first in merge mode, which changes nothing stored.
    private static func copyChunk(
        _ db: Database, schema: String, seq: ClosedRange<Int64>, pending: Int64, published: Int64?, mode: HydrationMode
    ) throws {
        // Name what the rows refer to: one community, a few chats and topics.
        for (table, column) in [("community_ref", "community_id"), ("chat_ref", "chat_id"), ("topic_ref", "content_topic")] {
            try db.execute(sql: """
                INSERT INTO main.\(table) (value) SELECT DISTINCT \(column) FROM \(schema).staged_message
                WHERE seq BETWEEN ? AND ? AND \(column) IS NOT NULL ON CONFLICT DO NOTHING
                """, arguments: [seq.lowerBound, seq.upperBound])
        }
        // Which stored row the archive's version overwrites (merge mode: none).
        let overwrite = mode == .merge ? "false" : """
            message_row.archive_ref = :pending OR message_row.is_archived = 0 OR message_row.archive_ref = :published
            """
        // In archive order, which is time order: the two time-ordered indexes are then written
        // page after page. (Key order, tried, was 1.6x slower: IDs are random.)
        try db.execute(sql: """
            INSERT INTO main.message_row (community_ref, id, chat_ref, topic_ref, author, type, clock, timestamp,
                                          payload, text, third_party_id, is_archived, archive_ref)
            SELECT c.ref, s.id, h.ref, t.ref, s.author, s.type, s.clock, s.timestamp,
                   s.payload, s.text, s.third_party_id, 1, :pending
            FROM \(schema).staged_message AS s
            JOIN main.community_ref AS c ON c.value = s.community_id
            LEFT JOIN main.chat_ref AS h ON h.value = s.chat_id
            JOIN main.topic_ref AS t ON t.value = s.content_topic
            WHERE s.seq BETWEEN :first AND :last ORDER BY s.seq
            ON CONFLICT(community_ref, id) DO UPDATE SET
                chat_ref = excluded.chat_ref, topic_ref = excluded.topic_ref, author = excluded.author,
                type = excluded.type, clock = excluded.clock, timestamp = excluded.timestamp, payload = excluded.payload,
                text = excluded.text, third_party_id = excluded.third_party_id, is_archived = 1,
                -- A forced import's rows keep the archive's published reference.
                archive_ref = CASE WHEN message_row.archive_ref = :published THEN :published ELSE :pending END,
                replaced_local = CASE WHEN message_row.is_archived = 0 THEN 1 ELSE message_row.replaced_local END
            WHERE \(overwrite)
            """, arguments: ["pending": pending, "published": published, "first": seq.lowerBound, "last": seq.upperBound])
    }

    /// The last transaction, kept short: counts what the archive did and publishes it. The
    /// pending rows are the archive's new messages and, marked `replaced_local`, the local
    /// copies it replaced (each once, whatever its copies); every other staged row was a copy
    /// already stored, by this archive or another.
    private static func countAndPublish(_ db: Database, schema: String, pending: Int64, archiveID: String) throws -> HydrationCounts {
        let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(schema).staged_message") ?? 0
        let row = try Row.fetchOne(db, sql: """
            SELECT COUNT(*), COUNT(replaced_local) FROM main.message_row WHERE archive_ref = ?
            """, arguments: [pending])!
        let written: Int = row[0]
        let replaced: Int = row[1]
        let counts = HydrationCounts(stored: written - replaced, replaced: replaced, unchanged: total - written)

        if let published = try Int64.fetchOne(db, sql: "SELECT ref FROM main.archive_ref WHERE value = ?", arguments: [archiveID]) {
            try db.execute(sql: "UPDATE main.message_row SET archive_ref = ? WHERE archive_ref = ?", arguments: [published, pending])
            try db.execute(sql: "DELETE FROM main.archive_ref WHERE ref = ?", arguments: [pending])
        } else {
            try db.execute(sql: "UPDATE main.archive_ref SET value = ?, pending_owner = NULL WHERE ref = ?", arguments: [archiveID, pending])
        }
        return counts
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
    func removeAbandonedPendingRows() throws {
        let pendings = try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT ref, pending_owner FROM main.archive_ref WHERE pending_owner IS NOT NULL")
        }
        for row in pendings {
            let owner: String = row["pending_owner"]
            guard !ArchiveStaging.isHeld(path: owner) else { continue }
            try removePendingRows(pending: row["ref"], owner: owner)
            logger.info("removed the hidden rows of an import that ended without publishing them", metadata: ["owner": "\(owner)"])
        }
    }

    /// Takes `pending`'s rows back and then the reference, each transaction checking that the
    /// reference is still pending under `owner` (another process may have published it): a
    /// new message's row is deleted, a replaced local copy becomes a local copy again (with
    /// the archive's version of the message: the same ID is the same signed content).
    private func removePendingRows(pending: Int64, owner: String) throws {
        let stillPending = "EXISTS (SELECT 1 FROM main.archive_ref WHERE ref = :pending AND pending_owner = :owner)"
        let arguments: StatementArguments = ["pending": pending, "owner": owner, "chunk": applyPacing.chunkRows]
        var changed = 0
        repeat {
            changed = try writeLocked(thenPause: true) { db in
                try db.execute(sql: """
                    DELETE FROM main.message_row WHERE rowid IN (
                        SELECT rowid FROM main.message_row WHERE archive_ref = :pending AND replaced_local IS NULL
                        AND \(stillPending) LIMIT :chunk)
                    """, arguments: arguments)
                var changed = db.changesCount
                try db.execute(sql: """
                    UPDATE main.message_row SET is_archived = 0, archive_ref = NULL, replaced_local = NULL WHERE rowid IN (
                        SELECT rowid FROM main.message_row WHERE archive_ref = :pending AND replaced_local = 1
                        AND \(stillPending) LIMIT :chunk)
                    """, arguments: arguments)
                changed += db.changesCount
                return changed
            }
        } while changed > 0
        try writeLocked { db in
            try db.execute(sql: "DELETE FROM main.archive_ref WHERE ref = :pending AND pending_owner = :owner", arguments: arguments)
        }
    }
}
