import Foundation
import GRDB
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The SQLite database that holds a member's community history (schema: docs/schema.md).
///
/// Opened in WAL mode so a chat client can read while the agent writes; writes wait up to
/// `busyTimeout` for a lock another process holds, then fail with a clear error.
///
/// ```swift
/// let database = try HistoryDatabase(path: "history.sqlite")
/// let counts = try await database.hydrate(archive: record, mode: .replace) { writer in
///     try writer.write(message)
///     return range
/// }
/// ```
public final class HistoryDatabase: Sendable {
    public let path: String
    let pool: DatabasePool
    let logger = Logger(label: "community-history.store")
    /// Imports' claim files that could not be deleted when the import ended (each is logged;
    /// `removeAbandonedStagingFiles` removes them once this process is gone).
    let stagingFilesLeft = Atomic<Int>(0)
    public var stagingFilesLeftBehind: Int { stagingFilesLeft.load(ordering: .relaxed) }
    let importLocks = Mutex(WriteLockHolds())
    /// How long this process's imports held the database's write lock (what a chat client's
    /// write may have waited for), from taking the lock to the commit.
    public var importWriteLockHolds: WriteLockHolds { importLocks.withLock { $0 } }
    let importStages = Mutex(ImportStageTimes())
    /// Where this process's imports spent their time, summed over imports (the benchmarks print it).
    public var importStageTimes: ImportStageTimes { importStages.withLock { $0 } }

    static let writerCacheKiB = 16 * 1024
    /// How an import's apply step shares the write lock (`ArchiveApply.swift`).
    let applyPacing: ApplyPacing
    /// Held by an import's apply step, from its first row to publishing (`ArchiveApply.swift`).
    let applying = NSLock()
    /// The commit's cost per row in the last transaction of an import's rows, kept from one
    /// archive to the next: the first transaction of an archive leaves room for its commit too
    /// (`TransactionBudget`). Nil until this database object has committed one.
    let commitPerRow = Mutex<Duration?>(nil)

    /// Opens (creating and migrating) the database at `path`. `readOnly`: opens an existing
    /// database for reading only, without migrating, so `status` and `messages` need no write
    /// access and never wait for a lock a chat client or the agent holds.
    ///
    /// `applyPacing` sets how an import's rows are written in chunks, and the pause between
    /// them in which a chat client's waiting write gets the lock; tests shrink the chunks and
    /// replace the pause.
    /// Creates the database file, readable by its owner only (0600), when it does not exist:
    /// it holds the decrypted messages of encrypted channels, and a umask of 022 would make it
    /// readable by every local user. SQLite gives the WAL and shared-memory files the database
    /// file's mode (`unixOpen`, `findCreateFileMode`), so they are 0600 too.
    static func createPrivately(_ path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            // open(2) applies the umask: a umask that takes owner bits away must not win either.
            fchmod(descriptor, 0o600)
            close(descriptor)
            return
        }
        let code = errno
        guard code == EEXIST else {
            throw HistoryStoreError.cannotOpen(path: path, reason: String(cString: strerror(code)))
        }
    }

    /// Where a reader opens the database: the path, or, when its directory cannot be written
    /// (read-only media, another user's directory), the path as an `immutable` SQLite URI. A
    /// reader of a WAL database must otherwise create its shared-memory file beside it, and
    /// failed ("attempt to write a readonly database"). Immutable means SQLite neither locks
    /// nor reads a WAL left behind: it shows the database file as it is. That is everything
    /// once the agent or sync that wrote it ended cleanly (the last connection checkpoints the
    /// WAL); after a kill -9 the commits still in the WAL are not shown (they cannot be read
    /// without writing beside the file). SQLite here is built with URI names (`SQLITE_USE_URI`,
    /// as `attachReadOnly` checks); without them the open fails, it never shows another file.
    static func readOnlyOpenPath(_ path: String) -> String {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard access(directory, W_OK) != 0 else { return path }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let encoded = absolute.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "?#%"))) ?? absolute
        return "file:\(encoded)?immutable=1"
    }

    public init(path: String, busyTimeout: TimeInterval = 10, readOnly: Bool = false, applyPacing: ApplyPacing = .default) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.readonly = readOnly
        if readOnly && !FileManager.default.fileExists(atPath: path) {
            throw HistoryStoreError.cannotOpen(path: path, reason: "no such file")
        }
        configuration.label = "community-history"
        if !readOnly { try Self.createPrivately(path) }
        if !readOnly {
            configuration.prepareDatabase { db in
                // WAL + NORMAL stays consistent after a crash (a power loss may only drop the
                // last commits, which an import redoes).
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
        }
        do {
            pool = try DatabasePool(path: readOnly ? Self.readOnlyOpenPath(path) : path, configuration: configuration)
            if !readOnly {
                try Schema.migrator.migrate(pool)
                // The writer's page cache, from SQLite's 2 MiB: an archive's apply step touches
                // the indexes' pages again and again. With v7's text rows 32 MiB took 100,000 rows
                // from 2.55 s to 2.20 s; with v8's compact rows 2 to 32 MiB were within the noise
                // (0.76-1.06 s), so 16 MiB, which keeps a sync's peak memory down. Pages are
                // allocated only as they are used.
                try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA cache_size = -\(Self.writerCacheKiB)") }
            }
        } catch let error as DatabaseError {
            throw HistoryStoreError.cannotOpen(path: path, reason: error.message ?? "\(error)")
        }
        self.path = path
        self.applyPacing = applyPacing
    }

    /// Runs `work` in a read transaction.
    public func read<T>(_ work: (Database) throws -> T) throws -> T {
        try pool.read(work)
    }

    /// Takes the write lock and lets it go, writing nothing: throws when the file is read-only
    /// or another process holds the lock past the busy timeout.
    public func checkWritable() throws {
        try pool.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) { .rollback }
        }
    }

    /// The schema versions applied to the database at `path`, read without changing it (opening
    /// a `HistoryDatabase` migrates); nil when there is no file there. Throws when the file
    /// is not a readable SQLite database.
    public static func schemaVersions(atPath path: String) throws -> [String]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        var configuration = Configuration()
        configuration.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            return try queue.read { db in
                guard try db.tableExists("grdb_migrations") else { return [] }
                return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            }
        } catch let error as DatabaseError {
            throw HistoryStoreError.cannotOpen(path: path, reason: error.message ?? "\(error)")
        }
    }

    /// The schema versions this build knows, oldest first.
    public static var knownMigrations: [String] { Schema.migrator.migrations }

    /// The schema version names applied to this database.
    public func appliedMigrations() throws -> [String] {
        try pool.read { try Schema.migrator.appliedMigrations($0) }
    }
}

/// How an import's apply step writes an archive's rows: the reading thread hands them over
/// `chunkRows` at a time; a transaction starts once `chunksToStart` chunks wait (or reading
/// has ended), writes them, and then the chunks that are waiting by then, while it is expected
/// to hold the lock, commit included, for at most `transactionTime` (`TransactionBudget`);
/// after each transaction that held the lock longer than `pauseAfterHoldsOver`, a pause with
/// the lock free before taking it again.
///
/// Why the pause: SQLite has no queue for its write lock. A writer that finds it taken sleeps
/// in its busy handler and tries again. Without a pause the import would take the lock back
/// within microseconds and a chat client could wait for the whole archive. SQLite's default
/// handler (`sqliteDefaultBusyCallback` in main.c, which `sqlite3_busy_timeout` installs, as
/// GRDB's and status-go's busy timeouts do) sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 ms,
/// then 100 ms, between tries. A client that began to wait during the transaction just ended
/// has waited at most as long as it held the lock, so it is in one of those sleeps, and a
/// pause as long as that sleep holds its next try: the client gets in at the first pause.
///
/// Why a time, not a number of rows, ends a transaction: that sleep is 25 ms for every wait
/// from 53 to 128 ms, so a transaction of 100 ms costs the same pause as one of 55 ms, and
/// the pauses were 30% of the apply's time with chunks of 2,000 rows (55-60 ms each at 375,000
/// stored; issue 28). A row count also held the lock longer whenever the apply thread lost its
/// core (chunks of 4,000 held it up to 0.52 s in `benchmark sync` with 2 workers); a time ends
/// the transaction at the next chunk instead. Rows that are not ready yet are not waited for
/// with the lock held: the transaction commits.
///
/// Why wait for `chunksToStart` before a transaction: when reading is the slower side (two
/// cores, verification), one chunk at a time was what waited, and transactions of 500 rows
/// wrote the same index pages to the WAL four times as often as transactions of 2,000: the
/// apply's and the checkpoints' CPU grew, which verification needed (`benchmark run`, 2
/// workers: 15,600-17,300 messages/s against 18,100).
public struct ApplyPacing: Sendable {
    /// Rows the reading thread hands over at a time: the apply's unit between two looks at the clock.
    public let chunkRows: Int64
    /// Chunks that may wait for the apply thread before the reading thread waits (memory stays
    /// `chunkRows × waitingChunks` rows, however large the archive).
    public let waitingChunks: Int
    /// How long one transaction may hold the lock, its commit included, taking the chunks that
    /// wait (`TransactionBudget` estimates the commit); `.zero`: one chunk each.
    public let transactionTime: Duration
    /// Chunks that must wait (or reading must have ended) before a transaction starts; at most
    /// `waitingChunks`.
    public let chunksToStart: Int
    /// A transaction that held the lock longer than this is followed by a pause (`pause(afterHolding:)`).
    public let pauseAfterHoldsOver: Duration
    /// Added to each pause, for the client's thread to be scheduled.
    public let pauseMargin: Duration
    /// Sleeps for the pause (tests pass one that records the pause, or writes as a client would).
    public let sleep: @Sendable (Duration) -> Void
    /// How large the WAL may grow during an import before the apply thread waits for the
    /// checkpoints beside it to catch up, so that SQLite can start the WAL over
    /// (`WALCheckpointer`). 64 MiB: 14,000 rows at 375,000 stored messages (measured: 8-9 MiB
    /// per 2,000), so the wait comes once or twice per 25,000-row archive.
    public let walBytesBeforeCatchUp: Int
    /// When an import's hidden rows are removed (it failed, was stopped, or its process was
    /// killed): rows one transaction deletes, and rows it restores as local copies (each up to
    /// this many), with a pause after each transaction as after the apply's.
    public let removalRows: Int64

    /// `removalRows` nil: `chunkRows`. The fields are constants, so what `init` checks holds
    /// for the value's life (a `removalRows` of 0 would end a removal before its rows were back).
    public init(chunkRows: Int64, waitingChunks: Int = 2, transactionTime: Duration = .zero, chunksToStart: Int = 1,
                pauseAfterHoldsOver: Duration, pauseMargin: Duration = .milliseconds(5),
                walBytesBeforeCatchUp: Int = 64 << 20, removalRows: Int64? = nil,
                sleep: @escaping @Sendable (Duration) -> Void = {
                    Thread.sleep(forTimeInterval: Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18)
                }) {
        precondition(chunkRows > 0, "an apply chunk holds at least one row")
        precondition((removalRows ?? chunkRows) > 0, "a removal takes back at least one row at a time")
        precondition(waitingChunks > 0, "at least one chunk may wait for the apply thread")
        precondition((1...waitingChunks).contains(chunksToStart), "a transaction starts with 1 to waitingChunks chunks")
        self.chunkRows = chunkRows
        self.waitingChunks = waitingChunks
        self.transactionTime = transactionTime
        self.chunksToStart = chunksToStart
        self.pauseAfterHoldsOver = pauseAfterHoldsOver
        self.pauseMargin = pauseMargin
        self.walBytesBeforeCatchUp = walBytesBeforeCatchUp
        self.removalRows = removalRows ?? chunkRows
        self.sleep = sleep
    }

    /// The pause after a transaction that held the lock for `held`, or nil for none.
    func pause(afterHolding held: Duration) -> Duration? {
        guard held > pauseAfterHoldsOver else { return nil }
        return Self.busyHandlerSleep(afterWaiting: held) + pauseMargin
    }

    /// How long SQLite's default busy handler sleeps once a writer has waited `waited`.
    static func busyHandlerSleep(afterWaiting waited: Duration) -> Duration {
        // main.c: delays[] and totals[], the time waited before each of them.
        let delays = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100]
        let totals = [0, 1, 3, 8, 18, 33, 53, 78, 103, 128, 178, 228]
        let index = totals.lastIndex { .milliseconds($0) <= waited } ?? 0
        return .milliseconds(delays[index])
    }

    /// Chunks of 500 rows (a chunk is one `INSERT` statement, `ArchiveRowWrite`), 14-16 ms
    /// each at 375,000 stored messages. A transaction of 110 ms, its commit included, stays
    /// under the 128 ms past which the pause would double. Eight chunks may wait: 4,000 rows,
    /// as two chunks of 2,000 did before; a transaction starts with four (2,000 rows, as it
    /// did before). Holds under 25 ms are short enough that a waiting writer loses little.
    /// Removals go 2,000 rows at a time, as the apply's transactions did before f84ba1e (a delete
    /// costs about what an insert does: 55-60 ms at 375,000 stored, more where local copies are
    /// restored too); 500 would be four times the commits for a path that publishes nothing.
    public static let `default` = ApplyPacing(chunkRows: 500, waitingChunks: 8, transactionTime: .milliseconds(110),
                                              chunksToStart: 4, pauseAfterHoldsOver: .milliseconds(25), removalRows: 2_000)
}

/// Where imports spent their time, summed over imports, for the benchmarks: which side of the
/// handoff waited for the other says which is the ceiling (issue 28).
public struct ImportStageTimes: Sendable, Equatable {
    /// The reading thread (decode, verification) waited for the apply thread to take a chunk.
    public var readingWaited: Duration = .zero
    /// The apply thread waited for a chunk to be read and verified.
    public var applyWaited: Duration = .zero
    /// The apply thread held the write lock (writing chunks, publishing).
    public var applyHeld: Duration = .zero
    /// The CPU time the apply thread used while it held the lock (less than `applyHeld` by the
    /// time other threads had its core).
    public var applyCPU: Duration = .zero
    /// Of `applyHeld`, the commits (writing the transactions' dirty pages to the WAL).
    public var applyCommitting: Duration = .zero
    /// The apply thread left the lock free for a chat client (`ApplyPacing`).
    public var applyPaused: Duration = .zero
    /// The apply thread checkpointed (in its pauses, when no `WALCheckpointer` could be opened,
    /// and after its last transaction then), or waited for the checkpointer to catch up.
    public var applyCheckpointed: Duration = .zero
    /// The `WALCheckpointer` copied the WAL into the database file, beside the apply thread
    /// (overlapping its work, so not part of its path).
    public var checkpointedAside: Duration = .zero
    /// The largest the WAL was after one of the apply's commits, in bytes.
    public var largestWALBytes = 0
}

/// Write-lock holds, for the benchmarks and the agent's metrics.
public struct WriteLockHolds: Sendable, Equatable {
    public var count = 0
    public var total: Duration = .zero
    public var longest: Duration = .zero

    mutating func record(_ hold: Duration) {
        count += 1
        total += hold
        longest = max(longest, hold)
    }
}

public enum HistoryStoreError: Error, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case alreadyImported(archiveID: String)
    /// An import's hidden rows were taken back by another process's sweep before it could
    /// publish them (its claim file looked abandoned): import the archive again.
    case pendingRowsTaken(archiveID: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open the history database at \(path): \(reason)"
        case .alreadyImported(let id):
            return "archive \(id) is already imported (pass force to import it again)"
        case .pendingRowsTaken(let id):
            return "the rows of archive \(id) were taken back before they were published (another process thought its import had ended); import it again"
        }
    }
}
