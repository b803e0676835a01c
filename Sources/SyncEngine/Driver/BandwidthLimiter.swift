import PeerHTTP

/// The arithmetic of the bandwidth cap: a token bucket in bytes, refilled at `bytesPerSecond`
/// up to one second's worth. Pure, so it is tested without sleeping.
public struct TokenBucket: Sendable, Equatable {
    public let bytesPerSecond: Int64
    /// Bytes that may still be spent; negative when downloads are ahead of the cap.
    public private(set) var balance: Double
    private var updated: Double

    /// `now` in seconds on any monotonic clock.
    public init(bytesPerSecond: Int64, now: Double) {
        self.bytesPerSecond = max(1, bytesPerSecond)
        balance = Double(self.bytesPerSecond)
        updated = now
    }

    /// How long to wait before the next download may start.
    public mutating func delay(now: Double) -> Double {
        refill(now: now)
        return balance < 0 ? -balance / Double(bytesPerSecond) : 0
    }

    public mutating func consume(_ bytes: Int64, now: Double) {
        refill(now: now)
        balance -= Double(bytes)
    }

    private mutating func refill(now: Double) {
        balance = min(Double(bytesPerSecond), balance + max(0, now - updated) * Double(bytesPerSecond))
        updated = max(updated, now)
    }
}

/// An optional cap on download bandwidth, shared by every download of the agent. Codex
/// answers without HTTP ranges and URLSession offers no throttle, so the cap is kept on
/// average: a download may start only when the bucket is not in debt, and each finished
/// download pays for its bytes (so later downloads wait).
///
/// ```swift
/// let limiter = BandwidthLimiter(bytesPerSecond: 1 << 20)   // 1 MiB/s on average
/// try await limiter.waitForBudget()
/// let bytes = try await codex.download(cid, to: file)
/// await limiter.consumed(bytes)
/// ```
public actor BandwidthLimiter {
    private var bucket: TokenBucket
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant

    public init(bytesPerSecond: Int64) {
        start = clock.now
        bucket = TokenBucket(bytesPerSecond: bytesPerSecond, now: 0)
    }

    /// Waits until earlier downloads are paid for.
    public func waitForBudget() async throws {
        while true {
            let wait = bucket.delay(now: seconds())
            if wait <= 0 { return }
            try await Task.sleep(for: .milliseconds(Int64(wait * 1000) + 1))
        }
    }

    public func consumed(_ bytes: Int64) {
        bucket.consume(bytes, now: seconds())
    }

    private func seconds() -> Double {
        (clock.now - start).inSeconds
    }
}
