/// Keccak-256 as Ethereum and status-go use it: the original Keccak padding (0x01),
/// not NIST SHA3-256 (0x06). No library on this machine exposes it publicly.
///
/// ```swift
/// let digest = Keccak256.hash(Array("abc".utf8))   // 4e03657a…
/// var hasher = Keccak256()
/// hasher.update(prefix); hasher.update(body)
/// let same = hasher.finalize()
/// ```
public struct Keccak256: Sendable {
    /// Bytes absorbed per permutation: (1600 - 2 * 256) / 8.
    static let rate = 136

    private var state = [UInt64](repeating: 0, count: 25)
    private var buffer = [UInt8](repeating: 0, count: Keccak256.rate)
    private var buffered = 0

    public init() {}

    /// One-shot digest of `bytes`.
    public static func hash<Bytes: Sequence>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var hasher = Keccak256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { absorb($0) }
        if handled == nil {
            let copy = Array(bytes)
            copy.withUnsafeBufferPointer { absorb($0) }
        }
    }

    public mutating func finalize() -> [UInt8] {
        for i in buffered..<Self.rate { buffer[i] = 0 }
        buffer[buffered] ^= 0x01
        buffer[Self.rate - 1] ^= 0x80
        absorbBlock(buffer, offset: 0)
        var out = [UInt8](repeating: 0, count: 32)
        for lane in 0..<4 {
            var word = state[lane]
            for byte in 0..<8 {
                out[lane * 8 + byte] = UInt8(truncatingIfNeeded: word)
                word >>= 8
            }
        }
        return out
    }

    private mutating func absorb(_ input: UnsafeBufferPointer<UInt8>) {
        var index = 0
        if buffered > 0 {
            let take = min(Self.rate - buffered, input.count)
            for i in 0..<take { buffer[buffered + i] = input[i] }
            buffered += take
            index = take
            guard buffered == Self.rate else { return }
            absorbBlock(buffer, offset: 0)
            buffered = 0
        }
        while input.count - index >= Self.rate {
            absorbBlock(input, offset: index)
            index += Self.rate
        }
        let rest = input.count - index
        for i in 0..<rest { buffer[i] = input[index + i] }
        buffered = rest
    }

    private mutating func absorbBlock<Block: RandomAccessCollection>(_ block: Block, offset: Int)
    where Block.Element == UInt8, Block.Index == Int {
        let base = block.startIndex + offset
        state.withUnsafeMutableBufferPointer { lanes in
            for lane in 0..<(Self.rate / 8) {
                var word: UInt64 = 0
                for byte in (0..<8).reversed() {
                    word = (word << 8) | UInt64(block[base + lane * 8 + byte])
                }
                lanes[lane] ^= word
            }
            KeccakF1600.permute(lanes.baseAddress!)
        }
    }
}

/// The Keccak-f[1600] permutation over 25 little-endian lanes.
enum KeccakF1600 {
    static let roundConstants: [UInt64] = [
        0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
        0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
        0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
        0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
        0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
        0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
    ]
    @inline(__always)
    static func rotl(_ x: UInt64, _ n: UInt64) -> UInt64 { (x &<< n) | (x &>> (64 - n)) }  // n in 1...63

    static func permute(_ a: UnsafeMutablePointer<UInt64>) {
        var b = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 25) { t in
            for round in 0..<24 {
                // θ
                b.0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20]
                b.1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21]
                b.2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22]
                b.3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23]
                b.4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24]
                let d0 = b.4 ^ rotl(b.1, 1)
                let d1 = b.0 ^ rotl(b.2, 1)
                let d2 = b.1 ^ rotl(b.3, 1)
                let d3 = b.2 ^ rotl(b.4, 1)
                let d4 = b.3 ^ rotl(b.0, 1)
                for y in stride(from: 0, to: 25, by: 5) {
                    a[y] ^= d0; a[y + 1] ^= d1; a[y + 2] ^= d2; a[y + 3] ^= d3; a[y + 4] ^= d4
                }
                // ρ and π: lane (x, y), rotated by the Keccak reference's offset r[x + 5y]
                // (0 1 62 28 27 / 36 44 6 55 20 / 3 10 43 25 39 / 41 45 15 21 8 / 18 2 61 56 14),
                // moves to (y, 2x + 3y). Written out, generated from that rule, so every rotation
                // is a constant: the loop over a table made Keccak twice the cost of portable C.
                t[0] = a[0]
                t[1] = rotl(a[6], 44)
                t[2] = rotl(a[12], 43)
                t[3] = rotl(a[18], 21)
                t[4] = rotl(a[24], 14)
                t[5] = rotl(a[3], 28)
                t[6] = rotl(a[9], 20)
                t[7] = rotl(a[10], 3)
                t[8] = rotl(a[16], 45)
                t[9] = rotl(a[22], 61)
                t[10] = rotl(a[1], 1)
                t[11] = rotl(a[7], 6)
                t[12] = rotl(a[13], 25)
                t[13] = rotl(a[19], 8)
                t[14] = rotl(a[20], 18)
                t[15] = rotl(a[4], 27)
                t[16] = rotl(a[5], 36)
                t[17] = rotl(a[11], 10)
                t[18] = rotl(a[17], 15)
                t[19] = rotl(a[23], 56)
                t[20] = rotl(a[2], 62)
                t[21] = rotl(a[8], 55)
                t[22] = rotl(a[14], 39)
                t[23] = rotl(a[15], 41)
                t[24] = rotl(a[21], 2)
                // χ
                for y in stride(from: 0, to: 25, by: 5) {
                    let t0 = t[y], t1 = t[y + 1], t2 = t[y + 2], t3 = t[y + 3], t4 = t[y + 4]
                    a[y] = t0 ^ (~t1 & t2)
                    a[y + 1] = t1 ^ (~t2 & t3)
                    a[y + 2] = t2 ^ (~t3 & t4)
                    a[y + 3] = t3 ^ (~t4 & t0)
                    a[y + 4] = t4 ^ (~t0 & t1)
                }
                // ι
                a[0] ^= roundConstants[round]
            }
        }
    }
}
