import Crypto
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
    public enum Outcome: Sendable {
        case message(UnwrappedMessage)
        case rejected(RejectionReason)
        case pending
    }

    public static let chatMessageType: UInt32 = 1

    private let communityKey: PublicKey?
    private let keys: (any HashRatchetKeyring)?
    private var segments = SegmentAssembler()

    /// `communityKey`: messages signed by it are accepted whatever the archived sender key.
    /// `keys`: the member's group keys, which open hash-ratchet encrypted messages.
    public init(communityKey: PublicKey?, keys: (any HashRatchetKeyring)? = nil) {
        self.communityKey = communityKey
        self.keys = keys
    }

    /// A message whose segments (if any) are reassembled, ready for `verify`: what the
    /// sequential part of unwrapping gives, so that verification can run on other threads.
    public struct Assembled: Sendable {
        let payload: Data
        let timestamp: UInt64
        let topic: ContentTopic
        let archivedSignature: Data
        let thirdPartyID: String

        /// Unix seconds, as archived.
        public var archivedTime: UInt64 { timestamp }

        /// The whole message as an archived entry (a segmented one reassembled): what is held
        /// while its key is missing, and unwrapped again once the key comes.
        public var archivedEntry: WireArchivedWakuMessage {
            var entry = WireArchivedWakuMessage()
            entry.payload = payload
            entry.timestamp = timestamp
            entry.topic = Data(topic.bytes)
            entry.sig = archivedSignature
            entry.thirdPartyID = thirdPartyID
            return entry
        }

        /// The group key a hash-ratchet encrypted message needs; nil when it is not one.
        public var hashRatchetKey: HashRatchetKeyReference? {
            guard let message = try? WireProtocolMessage(serializedBytes: payload),
                  let encrypted = message.encryptedMessage["none"] ?? message.encryptedMessage.values.first,
                  !encrypted.hrHeader.keyID.isEmpty
            else { return nil }
            return HashRatchetKeyReference(groupID: Array(encrypted.hrHeader.groupID), keyID: Array(encrypted.hrHeader.keyID))
        }
    }

    public enum Assembly: Sendable {
        case assembled(Assembled)
        case rejected(RejectionReason)
        case pending
    }

    public mutating func unwrap(_ archived: WireArchivedWakuMessage) -> Outcome {
        switch assemble(archived) {
        case .assembled(let message): return Self.verify(message, communityKey: communityKey, keys: keys)
        case .rejected(let reason): return .rejected(reason)
        case .pending: return .pending
        }
    }

    /// The part of unwrapping that depends on earlier entries (segments of one message may be
    /// spread over several): call in archive order.
    public mutating func assemble(_ archived: WireArchivedWakuMessage) -> Assembly {
        guard let topic = ContentTopic(bytes: Array(archived.topic)) else { return .rejected(.invalidTopic) }
        guard archived.timestamp <= ArchiveIndex.latestPlausibleTime else { return .rejected(.invalidTimestamp) }
        var payload = archived.payload
        var timestamp = archived.timestamp

        if SegmentAssembler.mightBeSegment(payload),
           let segment = try? WireSegmentMessage(serializedBytes: payload), SegmentAssembler.isSegment(segment) {
            switch segments.add(segment, sender: Array(archived.sig), timestamp: archived.timestamp) {
            case .pending: return .pending
            case .hashMismatch: return .rejected(.segmentHashMismatch)
            case .complete(let whole, let earliest):
                payload = Data(whole)
                timestamp = earliest
            }
        }
        return .assembled(Assembled(payload: payload, timestamp: timestamp, topic: topic, archivedSignature: archived.sig,
                                    thirdPartyID: archived.thirdPartyID))
    }

    /// The rest: decoding, recovering and checking the author, the message ID. Depends on
    /// nothing but its input, so messages can be verified in parallel (most of an import's
    /// time is the signature recovery here).
    ///
    /// A hash-ratchet encrypted message is opened with `keys` (the group keys the member
    /// imported): missing key, `encryptedKeyUnavailable`; a key that does not open it,
    /// `decryptionFailed`. Nothing undecryptable is passed on as if it were readable.
    public static func verify(_ message: Assembled, communityKey: PublicKey?, keys: (any HashRatchetKeyring)? = nil) -> Outcome {
        let payload = message.payload
        let ammBytes: Data
        if let protocolMessage = try? WireProtocolMessage(serializedBytes: payload) {
            if !protocolMessage.publicMessage.isEmpty {
                ammBytes = protocolMessage.publicMessage
            } else if let encrypted = protocolMessage.encryptedMessage["none"] ?? protocolMessage.encryptedMessage.values.first {
                switch HashRatchetEnvelope.open(encrypted, keys: keys) {
                case .opened(let plaintext): ammBytes = Data(plaintext)
                case .keyMissing, .notEncrypted: return .rejected(.encryptedKeyUnavailable)
                case .notOpened: return .rejected(.decryptionFailed)
                }
            } else {
                ammBytes = payload
            }
        } else {
            ammBytes = payload
        }

        guard let amm = try? WireApplicationMetadataMessage(serializedBytes: ammBytes), !amm.payload.isEmpty else {
            return .rejected(.undecodablePayload)
        }
        let archivedSender = message.archivedSignature.count == 65 ? try? PublicKey(bytes: Array(message.archivedSignature)) : nil
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

        let thirdPartyID = message.thirdPartyID.isEmpty ? nil : message.thirdPartyID
        let id = thirdPartyID ?? MessageID.compute(signer: author, applicationMessage: Array(ammBytes))
        return .message(UnwrappedMessage(
            id: id, author: author, type: amm.type, payload: Array(amm.payload), chatMessage: chatMessage,
            timestamp: message.timestamp, contentTopic: message.topic, thirdPartyID: thirdPartyID))
    }

    /// Call after the last entry: segmented messages that never completed.
    public func incompleteSegmentedMessages() -> Int { segments.incompleteCount }
}
