import Foundation

/// A community's identity: its secp256k1 public key, written as `0x` + the 33-byte compressed
/// key in lowercase hex (how status-go names a community, and the form stored in the database).
///
/// Every community ID that enters the program (a command-line argument, a configuration file,
/// a fixture, a recovered signer) is parsed into this type once, so two spellings of one key
/// (`0X02AB…` and `0x02ab…`) are one value, and a string that
/// is not a key never reaches the database.
///
/// ```swift
/// let id = try CommunityID("0x02ab…")      // throws CommunityIDError.invalid
/// id.string                                  // "0x02ab…", lowercase
/// id.publicKey                               // verifies the control node's signatures
/// ```
public struct CommunityID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The canonical spelling: `0x` + 66 lowercase hex digits.
    public let string: String
    public let publicKey: PublicKey

    public init(publicKey: PublicKey) {
        self.publicKey = publicKey
        string = Hex.encode(publicKey.compressed, prefixed: true)
    }

    /// Parses `0x` + a compressed (33-byte) key in hex, any case, as status-go writes it.
    /// Throws `CommunityIDError.invalid` when the text is not such a key on the curve.
    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let bytes = try? Hex.decode(trimmed), bytes.count == 33,
              let key = try? PublicKey(bytes: bytes)
        else { throw CommunityIDError.invalid(text) }
        self.init(publicKey: key)
    }

    public var description: String { string }

    public static func == (lhs: CommunityID, rhs: CommunityID) -> Bool { lhs.string == rhs.string }
    public func hash(into hasher: inout Hasher) { hasher.combine(string) }
    public static func < (lhs: CommunityID, rhs: CommunityID) -> Bool { lhs.string < rhs.string }

    /// Encoded as its canonical string; decoding validates it.
    public init(from decoder: Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(string)
    }
}

public enum CommunityIDError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let id):
            return "\"\(id.prefix(80))\" is not a community ID: expected 0x followed by 66 hex digits (a compressed secp256k1 public key)"
        }
    }
}
