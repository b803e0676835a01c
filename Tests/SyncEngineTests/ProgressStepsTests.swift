import Testing
@testable import SyncEngine

/// Download progress events: one per 5 % step and one at the end, however the bytes arrive.
@Suite struct ProgressStepsTests {
    @Test func smallChunksReportEachStepOnce() {
        var steps = ProgressSteps(total: 1_000)
        let reported = stride(from: 10, through: 1_000, by: 10).filter { steps.advance(to: Int64($0)) }
        #expect(reported == Array(stride(from: 50, through: 1_000, by: 50)))
    }

    @Test func oneLargeChunkSkipsThePassedSteps() {
        var steps = ProgressSteps(total: 1_000)
        #expect(steps.advance(to: 40) == false)
        #expect(steps.advance(to: 730) == true)     // past 70 %: one event, not fourteen
        #expect(steps.advance(to: 740) == false)
        #expect(steps.advance(to: 750) == true)     // 75 %
        #expect(steps.advance(to: 1_000) == true)   // the end
        #expect(steps.advance(to: 1_000) == false)  // never twice
    }

    @Test func emptyOrUnknownTotalsStillEndOnce() {
        var empty = ProgressSteps(total: 0)
        #expect(empty.advance(to: 0) == false)
        #expect(empty.advance(to: 1) == true)
        #expect(empty.advance(to: 2) == false)
    }
}
