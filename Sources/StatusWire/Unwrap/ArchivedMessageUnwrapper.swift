import Foundation
import StatusCrypto
import SwiftProtobuf

/// Peels an archived `WakuMessage` down to its `ApplicationMetadataMessage` and verifies the
/// author, following status-go's receive path:
///
/// payload → segment reassembly (when segmented) → `ProtocolMessage.public_message`
/// (bytes that are not a ProtocolMessage are read as a bare AMM, as Discord imports need;
/// hash-ratchet payloads are rejected as "encrypted, key unavailable") → AMM → author
/// recovered from the signature → message ID → `ChatMessage` for chat messages.
///
/// One unwrapper per archive: segments of one message may be spread over several entries.
///
/// ```swift
/// var unwrapper = ArchivedMessageUnwrapper(communityKey: community)
/// switch unwrapper.unwrap(archived) {
/// case .message(let message): store(message)
/// case .rejected(let reason): count(reason)
/// case .pending: break   // a segment; the message completes later
/// }
/// ```
public struct ArchivedMessageUnwrapper {
    public enum Outcome {
        case message(UnwrappedMessage)
        case rejected(RejectionReason)
        case pending
    }

    public static let chatMessageType: UInt32 = 1

    private let communityKey: PublicKey?
    private var segments = SegmentAssembler()

    /// `communityKey`: messages signed by it are accepted whatever the archived sender key.
    public init(communityKey: PublicKey?) {
        self.communityKey = communityKey
    }

    public mutating func unwrap(_ archived: WireArchivedWakuMessage) -> Outcome {
        guard let topic = ContentTopic(bytes: Array(archived.topic)) else { return .rejected(.invalidTopic) }
        guard archived.timestamp <= ArchiveIndex.latestPlausibleTime else { return .rejected(.invalidTimestamp) }
        var payload = archived.payload
        var timestamp = archived.timestamp

        if let segment = try? WireSegmentMessage(serializedBytes: payload), SegmentAssembler.isSegment(segment) {
            switch segments.add(segment, sender: Array(archived.sig), timestamp: archived.timestamp) {
            case .pending: return .pending
            case .hashMismatch: return .rejected(.segmentHashMismatch)
            case .complete(let whole, let earliest):
                payload = Data(whole)
                timestamp = earliest
            }
        }

        let ammBytes: Data
        if let protocolMessage = try? WireProtocolMessage(serializedBytes: payload) {
            if !protocolMessage.publicMessage.isEmpty {
                ammBytes = protocolMessage.publicMessage
            } else if !protocolMessage.encryptedMessage.isEmpty {
                return .rejected(.encryptedKeyUnavailable)
            } else {
                ammBytes = payload
            }
        } else {
            ammBytes = payload
        }

        guard let amm = try? WireApplicationMetadataMessage(serializedBytes: ammBytes), !amm.payload.isEmpty else {
            return .rejected(.undecodablePayload)
        }
        let archivedSender = archived.sig.count == 65 ? try? PublicKey(bytes: Array(archived.sig)) : nil
        let author: PublicKey
        if amm.signature.isEmpty {
            // status-go falls back to the waku-layer signer when the AMM is unsigned.
            guard let archivedSender else { return .rejected(.invalidSignature) }
            author = archivedSender
        } else {
            guard let recovered = try? PublicKey.recover(
                signature: Array(amm.signature), digest: Keccak256.hash(amm.payload))
            else { return .rejected(.invalidSignature) }
            author = recovered
        }
        if let archivedSender, author != archivedSender, author != communityKey {
            return .rejected(.signerMismatch)
        }

        var chatMessage: WireChatMessage?
        if amm.type == Self.chatMessageType {
            guard let decoded = try? WireChatMessage(serializedBytes: amm.payload) else {
                return .rejected(.undecodableChatMessage)
            }
            chatMessage = decoded
        }

        let thirdPartyID = archived.thirdPartyID.isEmpty ? nil : archived.thirdPartyID
        let id = thirdPartyID ?? MessageID.compute(signer: author, applicationMessage: Array(ammBytes))
        return .message(UnwrappedMessage(
            id: id, author: author, type: amm.type, payload: Array(amm.payload), chatMessage: chatMessage,
            timestamp: timestamp, contentTopic: topic, thirdPartyID: thirdPartyID))
    }

    /// Call after the last entry: segmented messages that never completed.
    public func incompleteSegmentedMessages() -> Int { segments.incompleteCount }
}
