import Crypto
import CryptoExtras
import Foundation
import Synchronization

/// The symmetric key of a public or community chat: PBKDF2-HMAC-SHA256 over the chat ID,
/// empty salt, **65356** rounds (a historic typo for 65536 that the wire depends on), 32 bytes.
///
/// ```swift
/// let key = try ChatSymmetricKey.derive(chatID: "test-chat")   // dee7b737…
/// ```
public enum ChatSymmetricKey {
    public static let rounds = 65356

    /// Derived once per chat ID and process: 65,356 rounds cost tens of milliseconds, and an
    /// agent following a thousand communities needs three keys each (issue 29: 94 % of its
    /// start-up CPU). The keys protect nothing the chat ID does not give away, so an agent also
    /// keeps them on disk and hands them back at its next start (`remember`).
    private static let derived = Mutex<[String: SymmetricKey]>([:])

    public static func derive(chatID: String) throws -> SymmetricKey {
        if let known = derived.withLock({ $0[chatID] }) { return known }
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(chatID.utf8), salt: [UInt8](), using: .sha256,
            outputByteCount: 32, unsafeUncheckedRounds: rounds)
        derived.withLock { $0[chatID] = key }
        return key
    }

    /// Whether `chatID`'s key is known to this process (derived, or remembered): `derive` then
    /// costs a dictionary lookup.
    public static func isKnown(chatID: String) -> Bool {
        derived.withLock { $0[chatID] != nil }
    }

    /// Takes keys derived earlier (by this code, kept by the caller): `derive` returns them
    /// without deriving. A value that is not 32 bytes is ignored, and is derived when asked for.
    public static func remember(_ keys: [String: [UInt8]]) {
        derived.withLock { known in
            for (chatID, bytes) in keys where bytes.count == 32 && known[chatID] == nil {
                known[chatID] = SymmetricKey(data: bytes)
            }
        }
    }

    /// The key's 32 bytes, derived if need be: what a caller keeps to `remember` later.
    public static func bytes(chatID: String) throws -> [UInt8] {
        try derive(chatID: chatID).withUnsafeBytes { Array($0) }
    }
}

/// AES-256-GCM as 26/WAKU2-PAYLOAD v1 carries it: `ciphertext || tag(16) || nonce(12)`, no AAD.
public enum WakuSymmetricCipher {
    public static func seal(_ plaintext: [UInt8], key: SymmetricKey, nonce: [UInt8]? = nil) throws -> [UInt8] {
        let gcmNonce = try nonce.map { try AES.GCM.Nonce(data: $0) } ?? AES.GCM.Nonce()
        let box = try AES.GCM.seal(plaintext, using: key, nonce: gcmNonce)
        return Array(box.ciphertext) + Array(box.tag) + Array(gcmNonce)
    }

    public static func open(_ wire: [UInt8], key: SymmetricKey) throws -> [UInt8] {
        guard wire.count >= 28 else { throw CipherError.tooShort(wire.count) }
        let nonce = try AES.GCM.Nonce(data: wire[(wire.count - 12)...])
        let tag = wire[(wire.count - 28)..<(wire.count - 12)]
        let ciphertext = wire[..<(wire.count - 28)]
        do {
            let box = try AES.GCM.SealedBox(nonce: nonce, ciphertext: ciphertext, tag: tag)
            return Array(try AES.GCM.open(box, using: key))
        } catch {
            // swift-crypto on Linux reports a bad tag as an opaque BoringSSL error code.
            throw CipherError.authenticationFailed
        }
    }
}

public enum CipherError: Error, Equatable, CustomStringConvertible {
    case tooShort(Int)
    case authenticationFailed

    public var description: String {
        switch self {
        case .tooShort(let n): return "encrypted payload of \(n) bytes is shorter than tag + nonce (28)"
        case .authenticationFailed: return "AES-GCM authentication failed: wrong key or tampered payload"
        }
    }
}
