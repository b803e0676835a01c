import Foundation
import Testing
@testable import SyncEngine

@Suite struct GuardTests {
    @Test func bandwidthCapHoldsTheAverageRate() {
        // 100 kB/s with one second of burst.
        var bucket = TokenBucket(bytesPerSecond: 100_000, now: 0)
        #expect(bucket.delay(now: 0) == 0)
        bucket.consume(150_000, now: 0)            // 50 kB in debt
        #expect(bucket.delay(now: 0) == 0.5)
        #expect(bucket.delay(now: 0.5) == 0)
        bucket.consume(300_000, now: 0.5)          // 300 kB in debt
        #expect(bucket.delay(now: 0.5) == 3.0)
        #expect(bucket.delay(now: 2.0) == 1.5)
        // Idle time refills at most one second's worth: no unbounded burst later.
        #expect(bucket.delay(now: 100) == 0)
        #expect(bucket.balance == 100_000)
        // On average: 1 MB through the bucket takes 9 s after the first second's burst.
        var total = TokenBucket(bytesPerSecond: 100_000, now: 0)
        var now = 0.0
        for _ in 0..<10 {
            now += total.delay(now: now)
            total.consume(100_000, now: now)
        }
        now += total.delay(now: now)
        #expect(abs(now - 9.0) < 1e-9)
    }

    @Test func limiterLetsTheFirstDownloadStartAtOnce() async throws {
        let limiter = BandwidthLimiter(bytesPerSecond: 1_000_000)
        try await limiter.waitForBudget()
        await limiter.consumed(10)
        try await limiter.waitForBudget()
    }

    @Test func diskGuardSaysWhatAndHowMuch() throws {
        let directory = FileManager.default.temporaryDirectory
        let free = try #require(DiskSpace.available(at: directory))
        let ledger = DiskReservations()
        #expect(throws: Never.self) { try ledger.reserve(1, margin: 0, at: directory, for: "a tiny archive").release() }
        #expect {
            _ = try ledger.reserve(free + (1 << 40), margin: 0, at: directory, for: "archive 0xabc")
        } throws: { error in
            let text = "\(error)"
            return text.contains("archive 0xabc") && text.contains("available") && text.contains(directory.path)
        }
        #expect(ledger.reservedBytes == 0)
    }

    @Test func concurrentDownloadsCannotTogetherEatTheMargin() throws {
        // 150 MB free, 100 MB margin: one 30 MB archive fits, a second one at the same time does not.
        let ledger = DiskReservations(available: { _ in 150_000_000 })
        let directory = URL(fileURLWithPath: "/archives")
        let first = try ledger.reserve(30_000_000, margin: 100_000_000, at: directory, for: "archive A")
        #expect {
            _ = try ledger.reserve(30_000_000, margin: 100_000_000, at: directory, for: "archive B")
        } throws: { error in
            "\(error)".contains("archive B") && "\(error)".contains("30000000 bytes for downloads in progress")
        }
        // Once the first download ends (its bytes are then part of what the disk reports), B may start.
        first.release()
        first.release()  // releasing twice frees once
        #expect(ledger.reservedBytes == 0)
        #expect(throws: Never.self) { try ledger.reserve(30_000_000, margin: 100_000_000, at: directory, for: "archive B") }
    }
}
