import Foundation
import GRDB
import GRDBSQLite
import Logging
import Synchronization

/// Copies an import's committed chunks from the WAL into the database file on a thread and a
/// connection of its own, while the apply thread writes the next chunk.
///
/// Why (issue 28): the apply step is the one part of an import that cannot run in parallel, so
/// its path bounds an import on any number of cores. `benchmark apply` (400,004 messages in 16
/// archives, 2 cores) showed what that path was: per archive of 25,000 rows, 0.3-0.7 s holding
/// the lock and 0.2-1.2 s checkpointing, growing with the table, because each chunk dirties
/// pages all over the primary-key index. Done in the pauses after each chunk, the checkpoint
/// lengthened every pause it outlasted. Here it overlaps the writing instead: a passive
/// checkpoint takes SQLite's checkpoint lock, not the write lock, and copies the frames
/// committed before it began while new ones are appended. When it falls behind, the next one
/// copies several chunks' frames, each page once, the latest version only.
///
/// Why the apply thread sometimes waits for it: SQLite starts the WAL over (writes it from its
/// first frame again) only when a write transaction begins with every frame already copied.
/// A checkpoint that always runs a chunk behind never lets that happen, and the WAL would grow
/// by the whole archive (hundreds of MiB; a review measured 609 MiB for 100,000 rows). So once
/// the WAL holds more than `catchUpFrames` (`WALFrameCount` says how many it holds after each
/// commit), `request` waits until a checkpoint begun after that commit has run, which copies
/// everything committed so far (unless a chat client was checkpointing: `checkpoint()`); the
/// next chunk then starts the WAL over. (A reader that keeps an old snapshot open keeps it
/// from starting over: the apply then waits for each checkpoint, as it did when it
/// checkpointed in its pauses, until that reader moves on.)
///
/// A chat client's commit meanwhile finds the checkpoint lock taken and skips its own
/// automatic checkpoint (a passive checkpoint does not wait), so it does not copy the import's
/// pages either.
///
/// ```swift
/// let checkpointer = try WALCheckpointer(path: path, catchUpBytes: 64 << 20, logger: logger)
/// // after each commit:
/// try checkpointer.request(walFrames: walFrameCount.frames)
/// // after the last one:
/// let outcome = checkpointer.finish()
/// ```
final class WALCheckpointer: @unchecked Sendable {
    /// What the checkpointer did, when it has finished.
    struct Outcome {
        /// Time spent checkpointing, on its own thread.
        var spent: Duration = .zero
        /// Time the apply thread waited for it to catch up.
        var waited: Duration = .zero
        /// The most the WAL held at a request, in bytes.
        var largestWALBytes = 0
        /// The first checkpoint that failed (not busy), if any.
        var failure: (any Error)?
    }

    private let connection: DatabaseQueue
    private let logger: Logger
    private let pageSize: Int
    private let catchUpFrames: Int
    private let condition = NSCondition()
    // Guarded by `condition`.
    /// Requests made, and the latest request a finished checkpoint started after.
    private var requests = 0
    private var covered = 0
    private var finishing = false
    private var running = true
    private var outcome = Outcome()

    /// Opens the connection and starts the thread. `catchUpBytes`: how large the WAL may grow
    /// before `request` waits for the checkpoints to catch up. Throws `DatabaseError` when the
    /// database cannot be opened (the caller then checkpoints in its pauses instead).
    init(path: String, catchUpBytes: Int, logger: Logger) throws {
        var configuration = Configuration()
        configuration.label = "community-history.checkpointer"
        // A passive checkpoint never waits for a lock: it copies what it can.
        configuration.busyMode = .immediateError
        configuration.prepareDatabase { db in
            // As the pool's writer: the WAL is synced before its pages are copied, the
            // database file after.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        connection = try DatabaseQueue(path: path, configuration: configuration)
        pageSize = try connection.read { try Int.fetchOne($0, sql: "PRAGMA page_size") } ?? 4096
        // A WAL frame is a page and a 24-byte header.
        catchUpFrames = max(1, catchUpBytes / (pageSize + 24))
        self.logger = logger
        let thread = Thread { [self] in loop() }
        thread.name = "checkpointer"
        thread.start()
    }

    /// Asks for a checkpoint of what is committed now: started at once when the thread is idle,
    /// or right after the one it is running. When the WAL holds more than the limit
    /// (`walFrames`, its frames after the last commit), waits until that checkpoint has run.
    /// Throws the error of an earlier checkpoint (an I/O error, disk full), which the import
    /// then ends with, as it did when it checkpointed itself.
    func request(walFrames: Int) throws {
        condition.lock()
        defer { condition.unlock() }
        if let failure = outcome.failure { throw failure }
        requests += 1
        let request = requests
        outcome.largestWALBytes = max(outcome.largestWALBytes, walFrames * (pageSize + 24))
        condition.broadcast()
        guard walFrames > catchUpFrames else { return }
        let started = ContinuousClock.now
        while covered < request && outcome.failure == nil { condition.wait() }
        outcome.waited += .now - started
        if let failure = outcome.failure { throw failure }
    }

    /// Runs the checkpoint asked for last, if it has not run, ends the thread, closes the
    /// connection and says what it did.
    func finish() -> Outcome {
        condition.lock()
        finishing = true
        condition.broadcast()
        while running { condition.wait() }
        let outcome = self.outcome
        condition.unlock()
        do { try connection.close() } catch {
            logger.warning("cannot close the checkpointer's connection", metadata: ["error": "\(error)"])
        }
        return outcome
    }

    private func loop() {
        while let request = nextRequest() {
            let started = ContinuousClock.now
            let result = Result { try checkpoint() }
            let elapsed = ContinuousClock.now - started
            condition.lock()
            outcome.spent += elapsed
            covered = request
            if case .failure(let error) = result, outcome.failure == nil { outcome.failure = error }
            condition.broadcast()
            condition.unlock()
        }
        condition.lock()
        running = false
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until a checkpoint is asked for, and returns the latest request it will cover;
    /// nil once the import is done and every request was covered.
    private func nextRequest() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while covered == requests && !finishing { condition.wait() }
        return covered < requests ? requests : nil
    }

    /// Busy means a chat client is checkpointing (its commit found the WAL over its automatic
    /// limit): not a failure. That checkpoint began before the apply's last commit and may not
    /// copy it, so a catch-up can end with the WAL unable to start over: it grows by a chunk, and
    /// the next request, still over the limit, waits again. Retrying here instead (every 2 ms,
    /// for up to 50 ms) was tried and taken out: in `benchmark sync` (400,009 messages, 2
    /// workers) the probe's longest wait was over 0.2 s in three runs of six with it, one of
    /// five without, none of nine before it (issue 28).
    private func checkpoint() throws {
        do {
            try connection.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {}
    }
}

/// How many frames the WAL holds after the latest commit of one connection, which SQLite tells
/// a WAL hook (`sqlite3_wal_hook`: "the number of pages currently in the write-ahead log file,
/// including those that were just committed"). An import's apply installs it on the writer
/// while the writer's automatic checkpoints are off: SQLite implements those with the same
/// hook, and turning them back on replaces it (`sqlite3_wal_autocheckpoint`'s documentation).
///
/// ```swift
/// let count = WALFrameCount()
/// count.install(on: db)      // on the writer, autocheckpoint off
/// … commits …                // count.frames
/// count.remove(from: db)     // before the writer's autocheckpoint is turned back on
/// ```
final class WALFrameCount: Sendable {
    private let latest = Atomic<Int>(0)

    /// Frames in the WAL after the latest commit since `install`.
    var frames: Int { latest.load(ordering: .relaxed) }

    /// Must be balanced by `remove` while this object is alive: SQLite holds it unretained.
    func install(on db: Database) {
        sqlite3_wal_hook(db.sqliteConnection, { context, _, database, frames in
            // The main database's WAL only (an attached database has its own).
            guard let database, strcmp(database, "main") == 0 else { return SQLITE_OK }
            Unmanaged<WALFrameCount>.fromOpaque(context!).takeUnretainedValue().latest.store(Int(frames), ordering: .relaxed)
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    func remove(from db: Database) {
        sqlite3_wal_hook(db.sqliteConnection, nil, nil)
    }
}
