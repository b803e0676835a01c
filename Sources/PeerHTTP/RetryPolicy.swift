/// Exponential backoff with a cap: attempt n waits `initialDelay * multiplier^(n-1)`, at
/// most `maxDelay`, up to `maxAttempts` attempts in all.
///
/// ```swift
/// let manifest = try await RetryPolicy.default.run { try await codex.manifest(cid) }
/// ```
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var multiplier: Double
    public var maxDelay: Duration

    public static let `default` = RetryPolicy(maxAttempts: 5, initialDelay: .milliseconds(500), multiplier: 2, maxDelay: .seconds(30))
    public static let none = RetryPolicy(maxAttempts: 1, initialDelay: .zero, multiplier: 1, maxDelay: .zero)

    public init(maxAttempts: Int, initialDelay: Duration, multiplier: Double, maxDelay: Duration) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.multiplier = multiplier
        self.maxDelay = maxDelay
    }

    /// The wait after failed attempt `attempt` (1-based).
    public func delay(afterAttempt attempt: Int) -> Duration {
        var delay = initialDelay
        for _ in 1..<max(1, attempt) {
            delay = delay * multiplier
            if delay >= maxDelay { return maxDelay }
        }
        return min(delay, maxDelay)
    }

    /// Runs `operation`, retrying the `PeerError`s `retryIf` accepts (by default the retryable
    /// ones). Cancellation stops the waiting at once.
    public func run<T: Sendable>(retryIf: (PeerError) -> Bool = { $0.isRetryable },
                                 _ operation: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch let error as PeerError where retryIf(error) && attempt < maxAttempts {
                try await Task.sleep(for: delay(afterAttempt: attempt))
                attempt += 1
            }
        }
    }
}
