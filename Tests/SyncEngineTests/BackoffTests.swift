import Backoff
import Testing
@testable import SyncMachine

/// The one retry schedule: exponential, capped, and jittered so that what failed together does
/// not come back together.
@Suite struct BackoffTests {
    /// SplitMix64's published first outputs for seed 0 (Vigna's splitmix64.c; Java's
    /// `new SplittableRandom(0).nextLong()` gives the first).
    @Test func theJitterSourceIsSplitMix64() {
        var source = SplitMix64(seed: 0)
        #expect([source.next(), source.next(), source.next()] == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
        var unit = JitterSource(seed: 42)
        for _ in 0..<1_000 { #expect((0..<1).contains(unit.next())) }
    }

    @Test func theScheduleDoublesUpToItsCapAndJitterOnlyShortensIt() {
        let backoff = Backoff(initial: .seconds(5), maximum: .seconds(30), jitter: 0.2)
        #expect((1...5).map { backoff.scheduled(afterAttempt: $0) } == [.seconds(5), .seconds(10), .seconds(20), .seconds(30), .seconds(30)])
        #expect(backoff.delay(afterAttempt: 3, random: 0) == .seconds(20))
        #expect(backoff.delay(afterAttempt: 3, random: 0.5) == .seconds(18))
        #expect(backoff.delay(afterAttempt: 3, random: 0.999_999) > .seconds(16))
    }

    /// A thousand communities that failed together retry spread over the jitter's window, each
    /// machine within its schedule; a machine with a fixed seed retries on a fixed schedule.
    @Test func machinesThatFailedTogetherRetryApart() {
        func firstRetry(seed: UInt64) -> Duration {
            var machine = CommunitySyncMachine(configuration: .init(communityID: CommunitySyncMachineTests.communityID, quietWindow: .zero,
                                                                    retryInitialDelay: .seconds(60), jitterSeed: seed))
            _ = machine.announcementReceived(CommunitySyncMachineTests.announcement(clock: 1, cid: CommunitySyncMachineTests.cid(1)))
            _ = machine.quietWindowElapsed()
            let actions = machine.indexFailed(ArchiveFailure(.peerUnreachable, "down"), generation: machine.generation)
            for case .startTimer(.retry, let delay) in actions { return delay }
            return .zero
        }
        let delays = (0..<1_000).map { firstRetry(seed: UInt64($0)) }
        #expect(delays.allSatisfy { $0 > .seconds(48) && $0 <= .seconds(60) }, "within 20 % under the schedule")
        #expect(Set(delays).count > 900, "spread out, not in lockstep")
        #expect(firstRetry(seed: 7) == firstRetry(seed: 7))
    }
}
