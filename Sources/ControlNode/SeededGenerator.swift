import Backoff

/// The fixtures' seeded source: SplitMix64, so fixtures are byte-for-byte reproducible. Not for secrets.
public typealias SeededGenerator = SplitMix64

extension SplitMix64 {
    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }
}
