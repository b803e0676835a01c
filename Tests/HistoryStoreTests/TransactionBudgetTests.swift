import Testing
@testable import HistoryStore

/// How many chunks a transaction of an import's rows takes: while it is expected to end within
/// its time, commit included (issue 28: an archive's first transaction left no room for its
/// commit and held the lock 0.11-0.15 s, not 0.11 at most).
@Suite(.timeLimit(.minutes(5))) struct TransactionBudgetTests {
    /// With a commit cost measured, another chunk is taken while the writing so far, one more
    /// chunk like the last, and the commit of all those rows fit.
    @Test func anotherChunkFitsWhileTheWritingAndTheCommitDo() {
        var budget = TransactionBudget(limit: .milliseconds(110), commitPerRow: .microseconds(40))
        budget.wrote(rows: 500, in: .milliseconds(15))
        // 30 ms of writing and 1,000 rows' commit, 40 ms: 70 ms.
        #expect(budget.hasRoomForAnotherChunk)
        budget.wrote(rows: 500, in: .milliseconds(15))
        // 45 ms and 60 ms: 105 ms.
        #expect(budget.hasRoomForAnotherChunk)
        budget.wrote(rows: 500, in: .milliseconds(15))
        // 60 ms and 80 ms: 140 ms.
        #expect(!budget.hasRoomForAnotherChunk)
        #expect(budget.rows == 1_500)
    }

    /// The next chunk is expected to be as large and as slow as the last one, not as the average.
    @Test func theNextChunkIsExpectedToBeLikeTheLast() {
        var budget = TransactionBudget(limit: .milliseconds(110), commitPerRow: .zero)
        budget.wrote(rows: 500, in: .milliseconds(60))
        budget.wrote(rows: 500, in: .milliseconds(20))
        #expect(budget.hasRoomForAnotherChunk)  // 80 + 20 ms (the average would make it 80 + 40)

        var rows = TransactionBudget(limit: .milliseconds(60), commitPerRow: .microseconds(40))
        rows.wrote(rows: 500, in: .milliseconds(10))
        rows.wrote(rows: 100, in: .milliseconds(10))
        // 30 ms of writing and 700 rows' commit, 28 ms: 58 (500 more rows, as the first chunk, would make 74).
        #expect(rows.hasRoomForAnotherChunk)
        #expect(rows.rows == 600)
    }

    /// Before any commit was measured (the process's first transaction), a commit is taken to
    /// cost as much as the writing.
    @Test func withNoCommitMeasuredTheCommitIsTakenToCostAsMuchAsTheWriting() {
        var budget = TransactionBudget(limit: .milliseconds(110), commitPerRow: nil)
        budget.wrote(rows: 500, in: .milliseconds(20))
        #expect(budget.hasRoomForAnotherChunk)  // 40 ms of writing, 40 of commit
        budget.wrote(rows: 500, in: .milliseconds(20))
        #expect(!budget.hasRoomForAnotherChunk)  // 60 and 60
    }

    /// `.zero` is one chunk per transaction, however quick.
    @Test func aZeroLimitTakesOneChunk() {
        var budget = TransactionBudget(limit: .zero, commitPerRow: .zero)
        budget.wrote(rows: 1, in: .zero)
        #expect(!budget.hasRoomForAnotherChunk)
    }

    /// A transaction's commit per row is its time over its rows; one of less than a chunk (an
    /// archive's tail, a few rows and the commit's fixed cost) is no estimate for the next.
    @Test func theCommitsCostPerRowIsMeasuredOnTransactionsOfAChunkOrMore() {
        #expect(TransactionBudget.measuredCommitPerRow(committing: .milliseconds(30), rows: 1_500, chunkRows: 500) == .microseconds(20))
        #expect(TransactionBudget.measuredCommitPerRow(committing: .milliseconds(5), rows: 500, chunkRows: 500) == .microseconds(10))
        #expect(TransactionBudget.measuredCommitPerRow(committing: .milliseconds(2), rows: 3, chunkRows: 500) == nil)
        #expect(TransactionBudget.measuredCommitPerRow(committing: .milliseconds(30), rows: 0, chunkRows: 500) == nil)
    }
}
