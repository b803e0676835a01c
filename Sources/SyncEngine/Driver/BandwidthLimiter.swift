/// An optional cap on download bandwidth, shared by every download of the agent: a token
/// bucket in bytes. Codex answers without HTTP ranges and URLSession offers no throttle, so
/// the cap is kept on average: a download may start only when the bucket is not in debt, and
/// each finished download pays for its bytes (so later downloads wait).
///
/// ```swift
/// let limiter = BandwidthLimiter(bytesPerSecond: 1 << 20)   // 1 MiB/s on average
/// try await limiter.waitForBudget()
/// let bytes = try await codex.download(cid, to: file)
/// await limiter.consumed(bytes)
/// ```
public actor BandwidthLimiter {
    public let bytesPerSecond: Int64
    private var balance: Double
    private var updated: ContinuousClock.Instant
    private let clock = ContinuousClock()

    public init(bytesPerSecond: Int64) {
        self.bytesPerSecond = max(1, bytesPerSecond)
        balance = Double(max(1, bytesPerSecond))  // one second of burst
        updated = clock.now
    }

    /// Waits until earlier downloads are paid for.
    public func waitForBudget() async throws {
        refill()
        while balance < 0 {
            let seconds = -balance / Double(bytesPerSecond)
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000) + 1))
            refill()
        }
    }

    public func consumed(_ bytes: Int64) {
        refill()
        balance -= Double(bytes)
    }

    private func refill() {
        let now = clock.now
        let elapsed = now - updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        balance = min(Double(bytesPerSecond), balance + seconds * Double(bytesPerSecond))
        updated = now
    }
}
