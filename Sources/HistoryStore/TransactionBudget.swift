/// How many chunks one transaction of an import's rows writes: after the chunk it starts with,
/// each chunk that waits, while the transaction is expected, its commit included, to end within
/// `ApplyPacing.transactionTime` (that type says why a time).
///
/// The commit is what makes this an estimate: it writes every page the rows dirtied to the WAL,
/// 20-45 ms of a 110 ms transaction at 375,000 stored messages, and it grows with the rows
/// written. So it is estimated per row, from the last transaction committed, in this archive or
/// the one before (`HistoryDatabase.commitPerRow`). f84ba1e left each transaction the last
/// commit's time, and had none at an archive's start: each archive's first transaction held the
/// lock 0.11-0.15 s (`benchmark apply`, 400,004 messages), often past the 128 ms after which a
/// waiting chat client's busy handler sleeps 50 ms instead of 25. Before any commit was measured,
/// a commit is taken to cost as much as the writing: it was 0.1 of it in an empty database and
/// 0.45 at 375,000 messages, so the database's first transaction errs short.
///
/// A pure value: the apply thread tells it what it wrote and asks it; tests give it durations.
///
/// ```swift
/// var budget = TransactionBudget(limit: .milliseconds(110), commitPerRow: database.commitPerRow.withLock { $0 })
/// budget.wrote(rows: 500, in: .milliseconds(15))
/// if budget.hasRoomForAnotherChunk { /* take the next chunk that waits */ }
/// ```
struct TransactionBudget: Sendable {
    /// How long the transaction may hold the lock, commit included; `.zero`: one chunk.
    let limit: Duration
    /// The commit's cost per row written, as last measured; nil when none was.
    let commitPerRow: Duration?
    /// What the transaction has written so far.
    private(set) var rows = 0
    private(set) var writing: Duration = .zero
    private var lastChunk: (rows: Int, time: Duration) = (0, .zero)

    init(limit: Duration, commitPerRow: Duration?) {
        self.limit = limit
        self.commitPerRow = commitPerRow
    }

    /// A chunk of `rows` was written in `time`.
    mutating func wrote(rows: Int, in time: Duration) {
        self.rows += rows
        writing += time
        lastChunk = (rows, time)
    }

    /// Whether one more chunk, as large and as long to write as the last, and then the commit
    /// of everything written are expected to end within `limit`. Asked after `wrote`.
    var hasRoomForAnotherChunk: Bool {
        guard limit > .zero else { return false }
        let writingAfter = writing + lastChunk.time
        let commit = commitPerRow.map { $0 * (rows + lastChunk.rows) } ?? writingAfter
        return writingAfter + commit <= limit
    }

    /// The commit's cost per row that a transaction of `rows` rows measured, to estimate the
    /// next ones with; nil when it wrote less than a chunk (`chunkRows`). Such a transaction is
    /// an archive's tail, whose commit is mostly its fixed cost: divided by a few rows, it would
    /// make the next archive's first transaction a single chunk.
    static func measuredCommitPerRow(committing: Duration, rows: Int, chunkRows: Int) -> Duration? {
        rows > 0 && rows >= chunkRows ? committing / rows : nil
    }
}
