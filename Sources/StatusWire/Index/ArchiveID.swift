import StatusCrypto

/// An archive's identity within a community: `0x` + hex(keccak256(its serialized index
/// metadata)), the key status-go gives it in the archive index, in lowercase.
///
/// Parsed once (from the index, where the key is checked against the hash, or from a
/// configuration or a test), so archives compare, sort and persist by one spelling.
///
/// ```swift
/// let id = ArchiveID(hashing: metadataBytes)   // from an index entry's value
/// let same = try ArchiveID("0xAB…")            // throws ArchiveIDError.invalid
/// same.string                                   // "0xab…"
/// ```
public struct ArchiveID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The canonical spelling: `0x` + 64 lowercase hex digits.
    public let string: String

    /// The ID of an index entry whose serialized value is `metadata`.
    public init(hashing metadata: [UInt8]) {
        string = Hex.encode(Keccak256.hash(metadata), prefixed: true)
    }

    /// Parses `0x` + 32 bytes in hex, any case.
    public init(_ text: String) throws {
        guard text.hasPrefix("0x") || text.hasPrefix("0X"), let bytes = try? Hex.decode(text), bytes.count == 32 else {
            throw ArchiveIDError.invalid(text)
        }
        string = Hex.encode(bytes, prefixed: true)
    }

    public var description: String { string }

    public static func < (lhs: ArchiveID, rhs: ArchiveID) -> Bool { lhs.string < rhs.string }

    /// Encoded as its canonical string; decoding validates it.
    public init(from decoder: Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(string)
    }
}

public enum ArchiveIDError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let id): return "\"\(id.prefix(80))\" is not an archive ID: expected 0x followed by 64 hex digits"
        }
    }
}
