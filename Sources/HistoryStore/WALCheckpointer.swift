import Foundation
import GRDB
import Logging

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
/// A chat client's commit meanwhile finds the checkpoint lock taken and skips its own
/// automatic checkpoint (a passive checkpoint does not wait), so it does not copy the import's
/// pages either.
///
/// ```swift
/// let checkpointer = try WALCheckpointer(path: path, logger: logger)
/// // after each chunk's commit:
/// try checkpointer.request()
/// // when the last chunk is written:
/// let spent = checkpointer.finish()
/// ```
final class WALCheckpointer: @unchecked Sendable {
    private let connection: DatabaseQueue
    private let logger: Logger
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var requested = false
    private var finishing = false
    private var running = true
    private var spent: Duration = .zero
    private var failure: (any Error)?

    /// Opens the connection and starts the thread. Throws `DatabaseError` when the database
    /// cannot be opened (the caller then checkpoints in its pauses instead).
    init(path: String, logger: Logger) throws {
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
        self.logger = logger
        let thread = Thread { [self] in loop() }
        thread.name = "checkpointer"
        thread.start()
    }

    /// Asks for a checkpoint of what is committed now: started at once when the thread is idle,
    /// or right after the one it is running. Throws the error of an earlier checkpoint (an I/O
    /// error, disk full), which the import then ends with, as it did when it checkpointed itself.
    func request() throws {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        requested = true
        condition.broadcast()
    }

    /// Runs the checkpoint asked for last, if it has not run, ends the thread, closes the
    /// connection and returns how long the thread spent checkpointing.
    func finish() -> Duration {
        condition.lock()
        finishing = true
        condition.broadcast()
        while running { condition.wait() }
        let spent = self.spent
        condition.unlock()
        do { try connection.close() } catch {
            logger.warning("cannot close the checkpointer's connection", metadata: ["error": "\(error)"])
        }
        return spent
    }

    private func loop() {
        while waitForRequest() {
            let started = ContinuousClock.now
            let result = Result { try checkpoint() }
            let elapsed = ContinuousClock.now - started
            condition.lock()
            spent += elapsed
            if case .failure(let error) = result, failure == nil { failure = error }
            condition.unlock()
        }
        condition.lock()
        running = false
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until a checkpoint is asked for (true) or the import is done and none is (false).
    private func waitForRequest() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !requested && !finishing { condition.wait() }
        guard requested else { return false }
        requested = false
        return true
    }

    /// Busy (a chat client is checkpointing, which does the same work) is not a failure.
    private func checkpoint() throws {
        do {
            try connection.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {}
    }
}
