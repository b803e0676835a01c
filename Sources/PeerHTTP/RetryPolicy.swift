import Backoff

/// Retries with the project's one backoff (`Backoff`: exponential, capped, jittered): attempt n
/// waits `initialDelay * multiplier^(n-1)`, at most `maxDelay`, less up to `jitter` of it at
/// random, up to `maxAttempts` attempts in all.
///
/// ```swift
/// let manifest = try await RetryPolicy.default.run { try await codex.manifest(cid) }
/// ```
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var multiplier: Double
    public var maxDelay: Duration
    /// The largest share of a delay taken off at random (`Backoff.jitter`).
    public var jitter: Double

    public static let `default` = RetryPolicy(maxAttempts: 5, initialDelay: .milliseconds(500), multiplier: 2, maxDelay: .seconds(30))
    public static let none = RetryPolicy(maxAttempts: 1, initialDelay: .zero, multiplier: 1, maxDelay: .zero)

    public init(maxAttempts: Int, initialDelay: Duration, multiplier: Double, maxDelay: Duration, jitter: Double = Backoff.defaultJitter) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.multiplier = multiplier
        self.maxDelay = maxDelay
        self.jitter = jitter
    }

    public var backoff: Backoff { Backoff(initial: initialDelay, multiplier: multiplier, maximum: maxDelay, jitter: jitter) }

    /// The wait after failed attempt `attempt` (1-based), with its jitter drawn now.
    public func delay(afterAttempt attempt: Int) -> Duration {
        backoff.delay(afterAttempt: attempt, random: Double.random(in: 0..<1))
    }

    /// Runs `operation`, retrying the `PeerError`s `retryIf` accepts (by default the retryable
    /// ones), waiting on `clock`. Cancellation stops the waiting at once.
    public func run<T: Sendable>(retryIf: (PeerError) -> Bool = { $0.isRetryable }, clock: any Clock<Duration> = ContinuousClock(),
                                 _ operation: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch let error as PeerError where retryIf(error) && attempt < maxAttempts {
                try await clock.sleep(for: delay(afterAttempt: attempt))
                attempt += 1
            }
        }
    }
}
