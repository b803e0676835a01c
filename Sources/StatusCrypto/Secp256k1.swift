import CSecp256k1

/// secp256k1 keys and recoverable signatures, as status-go uses them
/// (65-byte `R || S || V` with `V` in {0, 1}, RFC 6979 nonces, low-S).
///
/// ```swift
/// let key = try PrivateKey(bytes: secret32)
/// let signature = try key.sign(digest: Keccak256.hash(payload))
/// let signer = try PublicKey.recover(signature: signature, digest: Keccak256.hash(payload))
/// signer == key.publicKey   // true
/// ```
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The 65-byte uncompressed SEC1 form, `0x04 || X || Y`.
    public let uncompressed: [UInt8]

    /// Parses a 33-byte compressed or 65-byte uncompressed SEC1 key.
    public init(bytes: [UInt8]) throws {
        var key = secp256k1_pubkey()
        guard bytes.count == 33 || bytes.count == 65,
              secp256k1_ec_pubkey_parse(Secp256k1.context, &key, bytes, bytes.count) == 1
        else { throw SignatureError.invalidPublicKey(length: bytes.count) }
        uncompressed = Secp256k1.serialize(key, compressed: false)
    }

    init(parsed key: secp256k1_pubkey) {
        uncompressed = Secp256k1.serialize(key, compressed: false)
    }

    /// The 33-byte compressed SEC1 form (a community ID is this, hex-encoded with `0x`).
    public var compressed: [UInt8] {
        let prefix: UInt8 = uncompressed[64] & 1 == 0 ? 0x02 : 0x03
        return [prefix] + uncompressed[1...32]
    }

    public var description: String { Hex.encode(compressed, prefixed: true) }

    /// Recovers the signer of `digest` (32 bytes) from a 65-byte recoverable signature.
    /// `V` may be 0/1 (status-go) or 27/28 (the spec's convention).
    public static func recover(signature: [UInt8], digest: [UInt8]) throws -> PublicKey {
        guard signature.count == 65 else { throw SignatureError.invalidSignatureLength(signature.count) }
        guard digest.count == 32 else { throw SignatureError.invalidDigestLength(digest.count) }
        var v = Int32(signature[64])
        if v >= 27 { v -= 27 }
        guard (0...3).contains(v) else { throw SignatureError.invalidRecoveryID(signature[64]) }
        let ctx = Secp256k1.context
        var parsed = secp256k1_ecdsa_recoverable_signature()
        let compact = Array(signature[0..<64])
        guard secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &parsed, compact, v) == 1 else {
            throw SignatureError.malformedSignature
        }
        var key = secp256k1_pubkey()
        guard secp256k1_ecdsa_recover(ctx, &key, &parsed, digest) == 1 else {
            throw SignatureError.recoveryFailed
        }
        return PublicKey(parsed: key)
    }
}

/// A secp256k1 private key. Used by the control-node tool and tests to sign; the member
/// agent itself only recovers.
public struct PrivateKey: Sendable {
    public let bytes: [UInt8]
    public let publicKey: PublicKey

    public init(bytes: [UInt8]) throws {
        guard bytes.count == 32, secp256k1_ec_seckey_verify(Secp256k1.context, bytes) == 1 else {
            throw SignatureError.invalidPrivateKey
        }
        var key = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_create(Secp256k1.signingContext, &key, bytes) == 1 else {
            throw SignatureError.invalidPrivateKey
        }
        self.bytes = bytes
        self.publicKey = PublicKey(parsed: key)
    }

    /// Signs a 32-byte digest: `R || S || V`, `V` in {0, 1}, deterministic (RFC 6979).
    public func sign(digest: [UInt8]) throws -> [UInt8] {
        guard digest.count == 32 else { throw SignatureError.invalidDigestLength(digest.count) }
        var signature = secp256k1_ecdsa_recoverable_signature()
        guard secp256k1_ecdsa_sign_recoverable(Secp256k1.signingContext, &signature, digest, bytes, nil, nil) == 1
        else { throw SignatureError.signingFailed }
        var out = [UInt8](repeating: 0, count: 64)
        var recid: Int32 = 0
        _ = secp256k1_ecdsa_recoverable_signature_serialize_compact(Secp256k1.context, &out, &recid, &signature)
        return out + [UInt8(recid)]
    }
}

public enum SignatureError: Error, Equatable, CustomStringConvertible {
    case invalidSignatureLength(Int)
    case invalidDigestLength(Int)
    case invalidRecoveryID(UInt8)
    case malformedSignature
    case recoveryFailed
    case invalidPublicKey(length: Int)
    case invalidPrivateKey
    case signingFailed

    public var description: String {
        switch self {
        case .invalidSignatureLength(let n): return "signature must be 65 bytes (R||S||V), got \(n)"
        case .invalidDigestLength(let n): return "digest must be 32 bytes, got \(n)"
        case .invalidRecoveryID(let v): return "signature recovery id V=\(v) is not 0-3 or 27-30"
        case .malformedSignature: return "signature R or S is out of range"
        case .recoveryFailed: return "no public key recovers from this signature"
        case .invalidPublicKey(let n): return "not a valid secp256k1 public key (\(n) bytes)"
        case .invalidPrivateKey: return "not a valid secp256k1 private key"
        case .signingFailed: return "secp256k1 signing failed"
        }
    }
}

enum Secp256k1 {
    /// Verification and recovery need no precomputation: the static context is enough
    /// and is safe to share between threads.
    static var context: OpaquePointer { csecp256k1_context_static()! }

    /// Signing wants a randomized context; it is immutable after creation, so sharing it is safe.
    nonisolated(unsafe) static let signingContext: OpaquePointer = {
        let ctx = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE))!
        return ctx
    }()

    static func serialize(_ key: secp256k1_pubkey, compressed: Bool) -> [UInt8] {
        var key = key
        var out = [UInt8](repeating: 0, count: compressed ? 33 : 65)
        var length = out.count
        let flags = UInt32(compressed ? SECP256K1_EC_COMPRESSED : SECP256K1_EC_UNCOMPRESSED)
        _ = secp256k1_ec_pubkey_serialize(context, &out, &length, &key, flags)
        return out
    }
}
