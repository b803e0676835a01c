import StatusCrypto

/// The 26/WAKU2-PAYLOAD version 1 plaintext, byte-exact with status-go:
/// `flags | size (1-4 bytes, little-endian) | data | padding | signature (65, optional)`.
/// `flags & 3` is the size field's length; `flags & 4` says a signature follows. Padding
/// makes the whole plaintext a multiple of 256 bytes.
///
/// ```swift
/// let plaintext = try WakuPayloadV1.encode(data: protocolMessage, signer: userKey, padding: randomBytes)
/// let wire = try WakuSymmetricCipher.seal(plaintext, key: try ChatSymmetricKey.derive(chatID: chatID))
/// let parsed = try WakuPayloadV1.decode(try WakuSymmetricCipher.open(wire, key: key))
/// parsed.signer   // the user's key
/// ```
public struct WakuPayloadV1: Sendable {
    public var data: [UInt8]
    public var padding: [UInt8]
    /// The recovered waku-layer signer (the sender's user identity key in status-go).
    public var signer: PublicKey?

    static let signatureFlag: UInt8 = 0x04
    static let sizeMask: UInt8 = 0x03
    static let signatureLength = 65

    /// Padding status-go would add: `256 - rawSize % 256` (1...256 bytes), with the
    /// signature counted in `rawSize`.
    public static func paddingLength(dataCount: Int, signed: Bool) -> Int {
        let raw = 1 + sizeFieldLength(dataCount) + dataCount + (signed ? signatureLength : 0)
        return 256 - raw % 256
    }

    static func sizeFieldLength(_ count: Int) -> Int {
        var length = 1
        while length < 4 && count >> (8 * length) != 0 { length += 1 }
        return length
    }

    /// Builds the plaintext. `padding` must be `paddingLength(…)` bytes (random in real life).
    public static func encode(data: [UInt8], signer: PrivateKey?, padding: [UInt8]) throws -> [UInt8] {
        let sizeLength = sizeFieldLength(data.count)
        var flags = UInt8(sizeLength)
        if signer != nil { flags |= signatureFlag }
        var out: [UInt8] = [flags]
        for i in 0..<sizeLength { out.append(UInt8(truncatingIfNeeded: data.count >> (8 * i))) }
        out += data
        out += padding
        if let signer {
            out += try signer.sign(digest: Keccak256.hash(out))
        }
        return out
    }

    /// Parses a decrypted plaintext and recovers the signer when one is present.
    public static func decode(_ plaintext: [UInt8]) throws -> WakuPayloadV1 {
        guard let flags = plaintext.first else { throw EnvelopeError.empty }
        let signed = flags & signatureFlag != 0
        let sizeLength = Int(flags & sizeMask)
        guard sizeLength > 0 else { throw EnvelopeError.invalidSizeField }
        let bodyEnd = plaintext.count - (signed ? signatureLength : 0)
        guard bodyEnd >= 1 + sizeLength else { throw EnvelopeError.truncated }
        var size = 0
        for i in 0..<sizeLength { size |= Int(plaintext[1 + i]) << (8 * i) }
        let dataStart = 1 + sizeLength
        guard dataStart + size <= bodyEnd else { throw EnvelopeError.truncated }
        var signer: PublicKey?
        if signed {
            let signature = Array(plaintext[bodyEnd...])
            signer = try PublicKey.recover(signature: signature, digest: Keccak256.hash(plaintext[..<bodyEnd]))
        }
        return WakuPayloadV1(
            data: Array(plaintext[dataStart..<(dataStart + size)]),
            padding: Array(plaintext[(dataStart + size)..<bodyEnd]),
            signer: signer)
    }
}

public enum EnvelopeError: Error, Equatable, CustomStringConvertible {
    case empty
    case invalidSizeField
    case truncated

    public var description: String {
        switch self {
        case .empty: return "empty Waku payload"
        case .invalidSizeField: return "Waku payload flags declare a zero-length size field"
        case .truncated: return "Waku payload is shorter than its declared size"
        }
    }
}
