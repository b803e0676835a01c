import Testing
@testable import HistoryStore

/// How many chunks a transaction of an import's rows takes: while it is expected to end within
/// its time, commit included (issue 28: an archive's first transaction left no room for its
/// commit and held the lock 0.14-0.15 s, not 0.11).
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

    /// The next chunk is expected to be as large and as slow as the last one.
    @Test func theNextChunkIsExpectedToBeLikeTheLast() {
        var budget = TransactionBudget(limit: .milliseconds(110), commitPerRow: .zero)
        budget.wrote(rows: 500, in: .milliseconds(40))
        #expect(budget.hasRoomForAnotherChunk)  // 80 ms
        budget.wrote(rows: 500, in: .milliseconds(60))
        #expect(!budget.hasRoomForAnotherChunk)  // 160 ms
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

    @Test func theCommitsCostPerRowIsItsTimeOverItsRows() {
        #expect(TransactionBudget.commitPerRow(committing: .milliseconds(30), rows: 1_500) == .microseconds(20))
        #expect(TransactionBudget.commitPerRow(committing: .milliseconds(30), rows: 0) == nil)
    }
}
