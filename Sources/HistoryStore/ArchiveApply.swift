import Foundation
import GRDB

/// The apply step of an import: writes an archive's verified rows into `message_row` while a
/// chat client beside the agent keeps writing.
///
/// Why in chunks: the cost is the primary-key index. Message IDs are random, so at a million
/// stored messages each 25,000-row archive dirties most of that index's pages (0.4 s, plus a
/// 0.3 s checkpoint, measured), and a client's write would wait for all of it. So the rows are
/// written in transactions of about 0.1 s (`applyPacing.transactionTime`), with a pause between
/// them (`ApplyPacing` says why), under an archive reference that is *pending* (`archive_ref.pending_owner` names
/// the import's claim file, `ImportClaim`). The `message` view hides the new rows, and shows a local copy
/// the archive replaced as the local copy it was (`replaced_local`). One last short transaction
/// counts, removes the local copies the archive does not contain, records the archive and
/// publishes the reference. A reader sees the whole archive or none of it; a crash leaves only
/// hidden rows and replaced local copies, which the next import takes back
/// (`removeAbandonedPendingRows`).
extension HistoryDatabase {
    /// Applies the rows `handoff` hands over, in chunks, then publishes them. `owner` is the
    /// import's claim file, whose lock tells a sweep that the hidden rows are still wanted.
    /// Throws what reading ended with, what SQLite throws (busy past the timeout, disk full),
    /// `CancellationError` once `handoff` is stopped, or `alreadyImported` (another process
    /// imported the archive meanwhile). On a throw nothing is visible: the pending rows are
    /// taken back here, or, if that fails too, by the next import.
    ///
    /// Each transaction is an access of its own to the database's writer, so the process's
    /// other writes (another community's import, a download's record) wait for one transaction too.
    func apply(
        owner: String, archive: ArchiveRecord, mode: HydrationMode, force: Bool, handoff: ImportHandoff
    ) throws -> HydrationCounts {
        // One import of this database applies at a time (the next one's reading goes on, up to
        // the handoff's capacity): so the only pending rows another import can meet are those
        // of an import that has ended, which the sweep below takes back first.
        applying.lock()
        defer { applying.unlock() }
        try removeAbandonedPendingRows()
        return try applyCheckpointingAside { checkpointer in
            try applyChunks(owner: owner, archive: archive, mode: mode, force: force, handoff: handoff, checkpointer: checkpointer)
        }
    }

    /// Runs `apply` with the writer's automatic checkpoints off, restored after, and a
    /// `WALCheckpointer` that copies the WAL into the database file beside it, while the next
    /// chunk is written. Why not the writer's own checkpoints: SQLite checkpoints in the
    /// committing call, after the lock is released but before the call returns, so the apply
    /// thread, the one an import waits for, did that copy too, and its pause for a chat client
    /// was measured from a hold that included it. Moved into the pauses (545a6dc), the copy
    /// still lengthened each pause it outlasted: in `benchmark apply` (400,004 messages, 2
    /// cores) it took more time than the writing itself by the last archives (issue 28).
    ///
    /// When the checkpointer's connection cannot be opened (no file descriptor left), the
    /// apply thread checkpoints in its pauses, as before, and says so in the log.
    private func applyCheckpointingAside<T>(_ apply: ((WALCheckpointer, WALFrameCount)?) throws -> T) throws -> T {
        let walFrames = WALFrameCount()
        let pages = try pool.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") ?? 1000
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            walFrames.install(on: db)
            return pages
        }
        // Before `walFrames` may go: SQLite holds it unretained.
        defer { restoreAutomaticCheckpoints(pages: pages, removing: walFrames) }
        let checkpointer: WALCheckpointer?
        do {
            checkpointer = try WALCheckpointer(path: path, catchUpBytes: applyPacing.walBytesBeforeCatchUp, logger: logger)
        } catch {
            logger.warning("cannot open a connection to checkpoint beside an import: it checkpoints in its pauses",
                           metadata: ["error": "\(error)"])
            checkpointer = nil
        }
        let result = Result { try apply(checkpointer.map { ($0, walFrames) }) }
        // The last transaction's pages too (it publishes the archive and deletes the local copies
        // it replaced: thousands of rows). Left in the WAL, they were copied by the next commit
        // that found the WAL over the limit: a chat client's, whose write then took 0.47 s in
        // `benchmark sync` (its probe); the copy must be the import's.
        if let checkpointer {
            // It throws only a failure that `finish` returns too.
            do { try checkpointer.request(walFrames: walFrames.frames) } catch {}
            let outcome = checkpointer.finish()
            if let failure = outcome.failure {
                logger.warning("a checkpoint beside an import failed", metadata: ["error": "\(failure)"])
            }
            importStages.withLock {
                $0.checkpointedAside += outcome.spent
                $0.applyCheckpointed += outcome.waited
                $0.largestWALBytes = max($0.largestWALBytes, outcome.largestWALBytes)
            }
        } else {
            do { _ = try checkpointPassively() } catch {
                logger.warning("cannot checkpoint after an import", metadata: ["error": "\(error)"])
            }
        }
        return try result.get()
    }

    private func restoreAutomaticCheckpoints(pages: Int, removing walFrames: WALFrameCount) {
        do {
            try pool.writeWithoutTransaction { db in
                walFrames.remove(from: db)
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(pages)")
            }
        } catch {
            // The WAL then grows until this process's next import or its last connection closes.
            logger.error("cannot turn the writer's automatic checkpoints back on", metadata: ["error": "\(error)"])
        }
    }

    private func applyChunks(
        owner: String, archive: ArchiveRecord, mode: HydrationMode, force: Bool, handoff: ImportHandoff,
        checkpointer: (WALCheckpointer, WALFrameCount)?
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
            var total = 0
            // Taken with the lock free: after the last transaction's pause, so an import stopped
            // in it (its task cancelled) is `.stopped` here, before anything is published.
            chunks: while true {
                switch handoff.take(whenWaiting: applyPacing.chunksToStart) {
                case .rows(let rows):
                    var budget = TransactionBudget(limit: applyPacing.transactionTime, commitPerRow: commitPerRow.withLock { $0 })
                    let hold = try measuredWriteLocked(thenPause: true, checkpointer: checkpointer) { db in
                        var write = ArchiveRowWrite(db: db, pending: pending, published: published, mode: mode)
                        try writeChunks(starting: rows, with: &write, within: &budget, handoff: handoff)
                    }.hold
                    total += budget.rows
                    // For the next transaction, of this archive or the next.
                    if let measured = TransactionBudget.measuredCommitPerRow(committing: hold.committing, rows: budget.rows,
                                                                              chunkRows: Int(applyPacing.chunkRows)) {
                        commitPerRow.withLock { $0 = measured }
                    }
                case .ended:
                    break chunks
                case .stopped:
                    throw handoff.stopReason
                }
            }
            let summary = try handoff.readingResult()
            return try writeLocked { db in
                if !force, try Self.isImported(db, archiveID: archive.id) {
                    throw HistoryStoreError.alreadyImported(archiveID: archive.id)
                }
                // Still this import's: a sweep takes only a reference whose owner is gone.
                guard try String.fetchOne(db, sql: "SELECT pending_owner FROM main.archive_ref WHERE ref = ?", arguments: [pending]) == owner else {
                    throw HistoryStoreError.pendingRowsTaken(archiveID: archive.id)
                }
                var counts = try Self.countAndPublish(db, total: total, pending: pending, archiveID: archive.id)
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

    /// One transaction's rows: `first`, then the chunks that wait, while `budget` has room for
    /// another (`TransactionBudget`). The chunks after these, and the end of the rows, are taken
    /// after the commit and its pause, waiting for `chunksToStart` chunks with the lock free.
    /// Throws when the import was stopped meanwhile: the transaction rolls back (and `budget`
    /// counts rows that were not stored: the caller throws too).
    private func writeChunks(
        starting first: [StoredMessage], with write: inout ArchiveRowWrite, within budget: inout TransactionBudget,
        handoff: ImportHandoff
    ) throws {
        var chunk = first
        while true {
            let started = ContinuousClock.now
            try write.write(chunk)
            budget.wrote(rows: chunk.count, in: .now - started)
            guard budget.hasRoomForAnotherChunk else { return }
            switch handoff.takeIfReady() {
            case .rows(let rows)?:
                chunk = rows
            case .stopped?:
                throw handoff.stopReason
            case .ended?, nil:
                return
            }
        }
    }

    /// Runs `work` in a `BEGIN IMMEDIATE` transaction, in an access of its own to the writer,
    /// and records how long it held the write lock (the benchmarks and the agent's metrics
    /// report the longest). `thenPause`: when the hold was long, leaves the lock free for
    /// afterwards, for a chat client's write (`ApplyPacing`), and has the WAL checkpointed:
    /// by `checkpointer`, beside the next chunk, or without one in the pause.
    private func writeLocked<T>(
        thenPause: Bool = false, checkpointer: (WALCheckpointer, WALFrameCount)? = nil, _ work: (Database) throws -> T
    ) throws -> T {
        try measuredWriteLocked(thenPause: thenPause, checkpointer: checkpointer, work).result
    }

    /// How long one transaction held the write lock, and how much of that was its commit.
    struct LockHold {
        var held: Duration = .zero
        var cpu: Duration = .zero
        /// From the end of the work to the end of the commit (writing the dirty pages to the WAL).
        var committing: Duration = .zero
    }

    /// `writeLocked`, returning the transaction's `LockHold` too.
    private func measuredWriteLocked<T>(
        thenPause: Bool, checkpointer: (WALCheckpointer, WALFrameCount)?, _ work: (Database) throws -> T
    ) throws -> (result: T, hold: LockHold) {
        var hold = LockHold()
        let result = try pool.writeWithoutTransaction { db in
            var result: T?
            var locked: (wall: ContinuousClock.Instant, cpu: Duration)?
            var worked: ContinuousClock.Instant?
            try db.inTransaction(.immediate) {
                locked = (.now, Self.threadCPUTime())
                result = try work(db)
                worked = .now
                return .commit
            }
            if let locked, let worked {
                let committed = ContinuousClock.now
                hold.held = committed - locked.wall
                hold.cpu = Self.threadCPUTime() - locked.cpu
                hold.committing = committed - worked
            }
            guard let result else { preconditionFailure("a committed transaction ran its work") }
            return result
        }
        importLocks.withLock { $0.record(hold.held) }
        importStages.withLock {
            $0.applyHeld += hold.held
            $0.applyCPU += hold.cpu
            $0.applyCommitting += hold.committing
        }
        guard thenPause else { return (result, hold) }
        var checkpointed: Duration = .zero
        if case let (checkpointer, walFrames)? = checkpointer {
            let started = ContinuousClock.now
            try checkpointer.request(walFrames: walFrames.frames)
            checkpointed = .now - started
        } else {
            checkpointed = try checkpointPassively()
        }
        if let pause = applyPacing.pause(afterHolding: hold.held) {
            applyPacing.sleep(max(.zero, pause - checkpointed))
            importStages.withLock { $0.applyPaused += pause }
        }
        return (result, hold)
    }

    /// Copies the WAL's committed pages into the database file, on the writer's connection,
    /// after the last chunk or in the pause after one when there is no `WALCheckpointer`
    /// (`applyCheckpointingAside` says why), and returns how long that took. A
    /// passive checkpoint takes no write lock: a chat client writes meanwhile. Busy (another
    /// connection is checkpointing, which does the same work) is not a failure.
    private func checkpointPassively() throws -> Duration {
        let started = ContinuousClock.now
        do {
            try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {}
        let spent = ContinuousClock.now - started
        importStages.withLock { $0.applyCheckpointed += spent }
        return spent
    }

    /// The CPU time this thread has used.
    static func threadCPUTime() -> Duration {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }

    /// The last transaction, kept short: counts what the archive did and publishes it. The
    /// pending rows are the archive's new messages and, marked `replaced_local`, the local
    /// copies it replaced (each once, whatever its copies); every other of the `total` rows
    /// written was a copy already stored, by this archive or another.
    private static func countAndPublish(_ db: Database, total: Int, pending: Int64, archiveID: String) throws -> HydrationCounts {
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
    /// cleanup that failed), with the apply's pause after each transaction (`removePendingRows`
    /// says how many rows each takes back). An import still running holds
    /// its claim file locked and is left alone, in this process or another.
    func removeAbandonedPendingRows() throws {
        let pendings = try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT ref, pending_owner FROM main.archive_ref WHERE pending_owner IS NOT NULL")
        }
        for row in pendings {
            let owner: String = row["pending_owner"]
            guard !ImportClaim.isHeld(path: owner) else { continue }
            try removePendingRows(pending: row["ref"], owner: owner)
            logger.info("removed the hidden rows of an import that ended without publishing them", metadata: ["owner": "\(owner)"])
        }
    }

    /// Takes `pending`'s rows back and then the reference, each transaction checking that the
    /// reference is still pending under `owner` (another process may have published it): a
    /// new message's row is deleted, a replaced local copy becomes a local copy again (with
    /// the archive's version of the message: the same ID is the same signed content). Each
    /// transaction deletes up to `applyPacing.removalRows` rows and restores as many.
    private func removePendingRows(pending: Int64, owner: String) throws {
        let stillPending = "EXISTS (SELECT 1 FROM main.archive_ref WHERE ref = :pending AND pending_owner = :owner)"
        let arguments: StatementArguments = ["pending": pending, "owner": owner, "chunk": applyPacing.removalRows]
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
