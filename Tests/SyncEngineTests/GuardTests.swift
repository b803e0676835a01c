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

    @Test func limiterLetsTheFirstChunksThroughAtOnce() async throws {
        let limiter = BandwidthLimiter(bytesPerSecond: 1_000_000)
        try await limiter.pace(10)
        try await limiter.pace(10)
    }

    /// Issue 11: the cap was kept on average per download (a download went at full speed, then
    /// the next one waited). Paced chunk by chunk with a small burst, a stream is never more than
    /// the burst and a chunk ahead of the cap at any moment, and the whole takes as long as the cap says.
    @Test func aPacedStreamNeverBurstsPastTheCap() {
        let rate: Int64 = 100_000, burst = BandwidthLimiter.burst(for: rate), chunk = 16_384
        var bucket = TokenBucket(bytesPerSecond: rate, burst: burst, now: 0)
        var now = 0.0, received: Int64 = 0
        for _ in 0..<200 {  // 3.2 MB in 16 KiB chunks, as a stream delivers them
            bucket.consume(Int64(chunk), now: now)
            received += Int64(chunk)
            #expect(Double(received) <= Double(rate) * now + Double(burst + Int64(chunk)) + 1e-3, "ahead of the cap at \(now) s")
            now += bucket.delay(now: now)  // the pacer's wait before the next chunk is read
        }
        #expect(abs(now - Double(received - burst) / Double(rate)) < 1e-6)
        // The old per-download cap let the first second's worth and a whole archive go at once.
        #expect(burst < rate)
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
