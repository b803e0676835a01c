import Crypto
import Foundation
import StatusCrypto
import SwiftProtobuf

/// A signed application message opened from a community's public chat: what the archive
/// channel and the description chat have in common. Both are published the way status-go's
/// `SendPublic` publishes: an `ApplicationMetadataMessage` (bare or in a
/// `ProtocolMessage.public_message`), in a 26/WAKU2-PAYLOAD v1 envelope, sealed with the chat's
/// PBKDF2 key.
struct PublicChatMessage {
    enum Failure: Error {
        case undecryptable, malformedEnvelope, notApplicationMessage, invalidSignature
    }

    let amm: WireApplicationMetadataMessage
    /// Recovered from the AMM's signature over keccak256(payload).
    let signer: PublicKey

    /// Tries each key (chats that share a content topic share it) and unwraps to the AMM.
    static func open(_ payload: [UInt8], keys: [SymmetricKey]) -> Result<PublicChatMessage, Failure> {
        guard let plaintext = keys.lazy.compactMap({ try? WakuSymmetricCipher.open(payload, key: $0) }).first else {
            return .failure(.undecryptable)
        }
        guard let envelope = try? WakuPayloadV1.decode(plaintext) else { return .failure(.malformedEnvelope) }
        return applicationLayer(envelope.data)
    }

    /// From the L1 data on: `ProtocolMessage.public_message` (or a bare AMM) → AMM → signer.
    static func applicationLayer(_ data: [UInt8]) -> Result<PublicChatMessage, Failure> {
        var ammBytes = Data(data)
        if let protocolMessage = try? WireProtocolMessage(serializedBytes: data), !protocolMessage.publicMessage.isEmpty {
            ammBytes = protocolMessage.publicMessage
        }
        guard let amm = try? WireApplicationMetadataMessage(serializedBytes: ammBytes), !amm.payload.isEmpty,
              amm.signature.count == 65
        else { return .failure(.notApplicationMessage) }
        guard let signer = try? PublicKey.recover(signature: Array(amm.signature), digest: Keccak256.hash(amm.payload)) else {
            return .failure(.invalidSignature)
        }
        return .success(PublicChatMessage(amm: amm, signer: signer))
    }
}
