import PeerHTTP

/// The arithmetic of the bandwidth cap: a token bucket in bytes, refilled at `bytesPerSecond`
/// up to `burst` bytes (default one second's worth). Pure, so it is tested without sleeping.
public struct TokenBucket: Sendable, Equatable {
    public let bytesPerSecond: Int64
    /// The most that may go at once after an idle time.
    public let burst: Int64
    /// Bytes that may still be spent; negative when downloads are ahead of the cap.
    public private(set) var balance: Double
    private var updated: Double

    /// `now` in seconds on any monotonic clock.
    public init(bytesPerSecond: Int64, burst: Int64? = nil, now: Double) {
        self.bytesPerSecond = max(1, bytesPerSecond)
        self.burst = max(1, burst ?? self.bytesPerSecond)
        balance = Double(self.burst)
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
        balance = min(Double(burst), balance + max(0, now - updated) * Double(bytesPerSecond))
        updated = max(updated, now)
    }
}

/// An optional cap on download bandwidth, shared by every download of the agent. It paces
/// each download's stream: the transport asks it before taking each chunk of the body, and a
/// chunk that puts the downloads ahead of the cap waits until they are back on it (while it
/// waits nothing is read, and TCP slows the node). At most a tenth of a second's worth (16 KiB
/// at least) goes at once after an idle time: the cap is kept over any second, not on average
/// over a whole archive (which would let a download go at full speed, then stop).
///
/// ```swift
/// let limiter = BandwidthLimiter(bytesPerSecond: 1 << 20)   // 1 MiB/s
/// try await codex.download(cid, to: file, manifest: manifest, pacer: limiter)
/// ```
public actor BandwidthLimiter: TransferPacer {
    private var bucket: TokenBucket
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant

    public init(bytesPerSecond: Int64) {
        start = clock.now
        bucket = TokenBucket(bytesPerSecond: bytesPerSecond, burst: Self.burst(for: bytesPerSecond), now: 0)
    }

    /// A tenth of a second's worth, at least 16 KiB (a few chunks of a stream).
    public static func burst(for bytesPerSecond: Int64) -> Int64 { max(16 << 10, bytesPerSecond / 10) }

    /// Takes `bytes` that arrived and waits until the downloads are back on the cap.
    public func pace(_ bytes: Int) async throws {
        bucket.consume(Int64(bytes), now: seconds())
        while true {
            let wait = bucket.delay(now: seconds())
            if wait <= 0 { return }
            try await Task.sleep(for: .milliseconds(Int64(wait * 1000) + 1))
        }
    }

    private func seconds() -> Double {
        (clock.now - start).inSeconds
    }
}
