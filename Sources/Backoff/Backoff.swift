/// Exponential backoff with a cap and jitter: the one schedule every retry of the project uses
/// (the peer clients' requests, `RetryPolicy`; a community's failed plans,
/// `CommunitySyncMachine`; a community whose sync cannot start, the agent). Attempt n waits
/// `initial × multiplier^(n-1)`, at most `maximum`, less a random share of it of up to
/// `jitter`. The jitter spreads out what failed together: a thousand communities whose storage
/// node went down do not all come back in the same second.
///
/// ```swift
/// let backoff = Backoff(initial: .seconds(5), maximum: .seconds(600))
/// backoff.delay(afterAttempt: 3, random: 0.5)   // 20 s less 10 %: 18 s
/// ```
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var multiplier: Double
    public var maximum: Duration
    /// The largest share of a delay taken off at random, 0...1 (0: exactly the schedule).
    public var jitter: Double

    /// The share of jitter retries use unless told otherwise.
    public static let defaultJitter = 0.2

    public init(initial: Duration, multiplier: Double = 2, maximum: Duration, jitter: Double = Backoff.defaultJitter) {
        self.initial = initial
        self.multiplier = multiplier
        self.maximum = maximum
        self.jitter = min(1, max(0, jitter))
    }

    /// The schedule's wait after failed attempt `attempt` (1-based), before jitter.
    public func scheduled(afterAttempt attempt: Int) -> Duration {
        var delay = initial
        for _ in 1..<max(1, attempt) {
            if delay >= maximum { break }
            delay = delay * multiplier
        }
        return min(delay, maximum)
    }

    /// The wait after failed attempt `attempt` (1-based); `random`, in 0..<1, picks how much of
    /// the jitter is taken off.
    public func delay(afterAttempt attempt: Int, random: Double) -> Duration {
        let scheduled = scheduled(afterAttempt: attempt)
        return scheduled - scheduled * (jitter * min(max(random, 0), 1))
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a small generator whose output depends only on its
/// seed. The sync machine draws its jitter from one (`JitterSource`), so that it stays a function
/// of its events; the fixture generator makes byte-for-byte reproducible fixtures with one
/// (`SeededGenerator`). Not for secrets.
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Numbers in 0..<1 for jitter where the code must be deterministic (the sync machine is a pure
/// function of its events), from a seed its owner chooses: at random in production, fixed in a test.
public struct JitterSource: Sendable, Equatable {
    private var generator: SplitMix64

    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// A number in 0..<1 (the generator's top 53 bits).
    public mutating func next() -> Double {
        Double(generator.next() >> 11) * 0x1.0p-53
    }
}
