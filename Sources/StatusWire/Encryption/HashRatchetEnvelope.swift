import Crypto
import Foundation
import StatusCrypto
import SwiftProtobuf

/// The group key a hash-ratchet payload needs: its group (the community ID's bytes, or a
/// channel's chat ID for channel-level encryption) and its key ID. What `status` and the API
/// show as "waiting for key", and what `keys import` must bring.
public struct HashRatchetKeyReference: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `0x` + hex of the group ID bytes.
    public var groupID: String
    /// `0x` + hex of the key ID (keccak256 of group, timestamp and key).
    public var keyID: String

    public init(groupID: [UInt8], keyID: [UInt8]) {
        self.groupID = Hex.encode(groupID, prefixed: true)
        self.keyID = Hex.encode(keyID, prefixed: true)
    }

    public init(groupID: String, keyID: String) {
        self.groupID = groupID
        self.keyID = keyID
    }

    public var description: String { "group \(groupID), key \(keyID)" }
}

/// `ProtocolMessage.encrypted_message["none"]` with an `HRHeader`: how status-go hash-ratchet
/// encrypts a community's channel messages and, in an encrypted community, each archive and
/// the index as a whole (`BuildHashRatchetMessage`, status-wire.md L2 and §3.6).
///
/// ```swift
/// switch HashRatchetEnvelope.open(fileBytes, keys: keyring) {
/// case .opened(let archive): …          // the WakuMessageArchive's bytes
/// case .keyMissing(let key): …          // wait for `keys import`; do not retry
/// case .notOpened(let key): …           // wrong key, bad tag, sequence gap: counted, nothing stored
/// case .notEncrypted: …
/// }
/// ```
public enum HashRatchetEnvelope {
    public enum Opening: Sendable, Equatable {
        case opened([UInt8])
        /// The member does not hold the group key the header names.
        case keyMissing(HashRatchetKeyReference)
        /// Held, but it does not open the payload (a wrong key, a damaged payload, a bad tag) or
        /// the sequence number is further than status-go accepts.
        case notOpened(HashRatchetKeyReference)
        /// Not a hash-ratchet `ProtocolMessage`.
        case notEncrypted
    }

    /// Opens `bytes` if they are a hash-ratchet `ProtocolMessage`: a whole archive or index, so
    /// without the sequence-gap rule (`HashRatchetKeyring.messageKey(…, checkingGap:)`).
    public static func open(_ bytes: [UInt8], keys: (any HashRatchetKeyring)?) -> Opening {
        guard let message = try? WireProtocolMessage(serializedBytes: bytes),
              let encrypted = message.encryptedMessage["none"] ?? message.encryptedMessage.values.first
        else { return .notEncrypted }
        return open(encrypted, keys: keys, checkingGap: false)
    }

    /// Opens one `EncryptedMessageProtocol`: the payload (AES-256-GCM, `ct‖tag‖nonce`) with the
    /// message key for its sequence number; sequence 0 carries a plaintext payload (status-go's
    /// key-exchange messages).
    public static func open(_ encrypted: WireEncryptedMessageProtocol, keys: (any HashRatchetKeyring)?, checkingGap: Bool = true) -> Opening {
        let header = encrypted.hrHeader
        let reference = HashRatchetKeyReference(groupID: Array(header.groupID), keyID: Array(header.keyID))
        // No key ID names no key: nothing could ever open it (not a wait).
        guard !header.keyID.isEmpty else { return .notOpened(reference) }
        guard let keys else { return .keyMissing(reference) }
        let messageKey: [UInt8]
        switch keys.messageKey(keyID: Array(header.keyID), sequenceNumber: header.seqNo, checkingGap: checkingGap) {
        case .key(let key): messageKey = key
        case .notHeld: return .keyMissing(reference)
        case .tooFar: return .notOpened(reference)
        }
        if header.seqNo == 0 { return .opened(Array(encrypted.payload)) }
        do { return .opened(try WakuSymmetricCipher.open(Array(encrypted.payload), key: SymmetricKey(data: messageKey))) } catch {
            return .notOpened(reference)
        }
    }
}
