import Crypto

/// A Codex content identifier: CIDv1, base58btc (`z…`). Validated before it is used in a
/// URL or a file name, so a CID can never smuggle a path (`../`, `/`, `?`).
///
/// ```swift
/// let cid = try CID("zDvZRwzm8K7bcyPeBXcZzWD7AWc4VqNuseduDr3VsuYA1yXej49V")
/// cid.codec   // 0xcd01 (codex-manifest)
/// ```
public struct CID: Hashable, Sendable, Codable, CustomStringConvertible {
    public let string: String
    public let codec: UInt64
    public let hashCode: UInt64
    public let digest: [UInt8]

    /// Codex's dataset (manifest) codec.
    public static let codexManifestCodec: UInt64 = CodexCodec.manifest
    static let sha256Code: UInt64 = 0x12

    public init(_ string: String) throws {
        guard string.count >= 8, string.count <= 128, string.first == "z" else {
            throw CIDError.invalid(string, "a Codex CID is CIDv1 in base58btc and starts with 'z'")
        }
        guard let bytes = Base58.decode(String(string.dropFirst())) else {
            throw CIDError.invalid(string, "not base58btc")
        }
        var reader = VarintReader(bytes: bytes)
        guard let version = reader.next(), version == 1 else { throw CIDError.invalid(string, "not CID version 1") }
        guard let codec = reader.next(), let hashCode = reader.next(), let length = reader.next() else {
            throw CIDError.invalid(string, "truncated")
        }
        let digest = Array(bytes[reader.offset...])
        guard digest.count == Int(length), length > 0 else {
            throw CIDError.invalid(string, "multihash length \(length) does not match its \(digest.count) digest bytes")
        }
        self.string = string
        self.codec = codec
        self.hashCode = hashCode
        self.digest = digest
    }

    /// Whether this CID names a Codex manifest (what an upload's CID is, and what indexes and
    /// announcements must name), rather than a block or a Merkle root.
    public var isCodexManifest: Bool { codec == CodexCodec.manifest && hashCode == Self.sha256Code && digest.count == 32 }

    public var description: String { string }

    public init(from decoder: any Swift.Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Swift.Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(string)
    }
}

public enum CIDError: Error, Equatable, CustomStringConvertible {
    case invalid(String, String)
    public var description: String {
        switch self {
        case .invalid(let cid, let why): return "invalid CID \"\(cid.prefix(80))\": \(why)"
        }
    }
}

struct VarintReader {
    let bytes: [UInt8]
    var offset = 0

    mutating func next() -> UInt64? {
        Varint.decode(bytes, at: &offset)
    }
}

/// Bitcoin-alphabet base58, as multibase `z` uses.
enum Base58 {
    static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)
    static let indexes: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int8(i) }
        return table
    }()

    static func decode(_ string: String) -> [UInt8]? {
        var result = [UInt8]()
        var zeros = 0
        var seenNonZero = false
        for c in string.utf8 {
            guard c < 128, indexes[Int(c)] >= 0 else { return nil }
            var carry = Int(indexes[Int(c)])
            if carry == 0 && !seenNonZero { zeros += 1; continue }
            seenNonZero = true
            for i in result.indices.reversed() {
                carry += Int(result[i]) * 58
                result[i] = UInt8(carry & 0xff)
                carry >>= 8
            }
            while carry > 0 {
                result.insert(UInt8(carry & 0xff), at: 0)
                carry >>= 8
            }
        }
        return [UInt8](repeating: 0, count: zeros) + result
    }

    static func encode(_ bytes: [UInt8]) -> String {
        var digits = [UInt8]()
        var zeros = 0
        for byte in bytes {
            if byte == 0 && digits.isEmpty { zeros += 1; continue }
            var carry = Int(byte)
            for i in digits.indices.reversed() {
                carry += Int(digits[i]) << 8
                digits[i] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.insert(UInt8(carry % 58), at: 0)
                carry /= 58
            }
        }
        let encoded = [UInt8](repeating: alphabet[0], count: zeros) + digits.map { alphabet[Int($0)] }
        return String(decoding: encoded, as: UTF8.self)
    }
}
