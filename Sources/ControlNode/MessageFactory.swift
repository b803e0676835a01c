import Crypto
import Foundation
import StatusCrypto
import StatusWire
import SwiftProtobuf

/// Builds the messages a community's members and control node put on the wire, layer by
/// layer, exactly as status-go does (see status-wire.md §2-3).
public enum MessageFactory {
    /// `ChatMessage` → AMM(type 1) signed by `author`.
    public static func chatMessage(
        author: PrivateKey, chatID: String, text: String, clock: UInt64, timestampMillis: UInt64
    ) throws -> [UInt8] {
        var chat = WireChatMessage()
        chat.clock = clock
        chat.timestamp = timestampMillis
        chat.text = text
        chat.chatID = chatID
        chat.messageType = 5   // COMMUNITY_CHAT
        chat.contentType = 1   // TEXT_PLAIN
        return try applicationMessage(type: 1, payload: try chat.serializedBytes(), signer: author)
    }

    /// `ApplicationMetadataMessage{signature = sign(keccak256(payload)), payload, type}`.
    public static func applicationMessage(type: UInt32, payload: [UInt8], signer: PrivateKey) throws -> [UInt8] {
        var amm = WireApplicationMetadataMessage()
        amm.payload = Data(payload)
        amm.type = type
        amm.signature = Data(try signer.sign(digest: Keccak256.hash(payload)))
        return try amm.serializedBytes()
    }

    /// The archive link a control node announces: AMM(type, `{clock, link}`) signed by the community key.
    public static func archiveLink(clock: UInt64, link: String, type: UInt32 = 43, communityKey: PrivateKey) throws -> [UInt8] {
        var message = WireCommunityMessageArchiveLink()
        message.clock = clock
        message.link = link
        return try applicationMessage(type: type, payload: try message.serializedBytes(), signer: communityKey)
    }

    /// The community's description naming its channels: AMM(25, `CommunityDescription`) signed by
    /// the community key. Channels are `(uuid, name)` in display order.
    public static func communityDescription(clock: UInt64, channels: [(uuid: String, name: String)],
                                            communityKey: PrivateKey) throws -> [UInt8] {
        var description = WireCommunityDescription()
        description.clock = clock
        for (position, channel) in channels.enumerated() {
            var chat = WireCommunityChat()
            chat.identity.displayName = channel.name
            chat.position = Int32(position)
            description.chats[channel.uuid] = chat
        }
        return try applicationMessage(type: CommunityDescriptionChannel.descriptionType,
                                      payload: try description.serializedBytes(), signer: communityKey)
    }

    /// `ProtocolMessage{installation_id, public_message = amm}` (no bundle).
    public static func publicProtocolMessage(_ amm: [UInt8], installationID: String) throws -> [UInt8] {
        var message = WireProtocolMessage()
        message.installationID = installationID
        message.publicMessage = Data(amm)
        return try message.serializedBytes()
    }

    /// A hash-ratchet encrypted `ProtocolMessage` (`encrypted_message["none"]`): what an
    /// encrypted community sends. The ciphertext is opaque to a member without the key.
    public static func hashRatchetProtocolMessage(groupID: [UInt8], keyID: [UInt8], ciphertext: [UInt8]) throws -> [UInt8] {
        var header = WireHRHeader()
        header.seqNo = 1
        header.groupID = Data(groupID)
        header.keyID = Data(keyID)
        var encrypted = WireEncryptedMessageProtocol()
        encrypted.hrHeader = header
        encrypted.payload = Data(ciphertext)
        var message = WireProtocolMessage()
        message.encryptedMessage = ["none": encrypted]
        return try message.serializedBytes()
    }

    /// A hash-ratchet encrypted `ProtocolMessage` as status-go builds one: `amm` sealed with
    /// the key for `sequenceNumber` (keccak256 applied that many times to `groupKey`),
    /// `ct‖tag‖nonce`, under `encrypted_message["none"]` with its header.
    /// `installationID` is the sender's device, which status-go's `BuildHashRatchetMessage` puts
    /// first (field 2) as in every `ProtocolMessage` it builds.
    public static func hashRatchetMessage(_ amm: [UInt8], groupID: [UInt8], groupKey: [UInt8], timestampMillis: UInt64,
                                          sequenceNumber: UInt32, nonce: [UInt8]? = nil, installationID: String = "") throws -> [UInt8] {
        var header = WireHRHeader()
        header.seqNo = sequenceNumber
        header.groupID = Data(groupID)
        header.keyID = Data(HashRatchet.keyID(groupID: groupID, timestampMillis: timestampMillis, groupKey: groupKey))
        let key = HashRatchet.messageKey(groupKey: groupKey, sequenceNumber: Int(sequenceNumber))
        var encrypted = WireEncryptedMessageProtocol()
        encrypted.hrHeader = header
        encrypted.payload = Data(sequenceNumber == 0 ? amm : try WakuSymmetricCipher.seal(amm, key: SymmetricKey(data: key), nonce: nonce))
        var message = WireProtocolMessage()
        message.installationID = installationID
        message.encryptedMessage = ["none": encrypted]
        return try message.serializedBytes()
    }

    /// Splits `payload` into `count` `SegmentMessage`s (status-go segmentation, no parity).
    public static func segments(of payload: [UInt8], count: Int) throws -> [[UInt8]] {
        let hash = Keccak256.hash(payload)
        let size = (payload.count + count - 1) / count
        return try (0..<count).map { index in
            var segment = WireSegmentMessage()
            segment.entireMessageHash = Data(hash)
            segment.index = UInt32(index)
            segment.segmentsCount = UInt32(count)
            let start = min(index * size, payload.count)
            segment.payload = Data(payload[start..<min(start + size, payload.count)])
            return try segment.serializedBytes()
        }
    }

    /// An archived entry as a control node stores it: the waku-layer signer's public key,
    /// seconds, the 4-byte topic, the decrypted L1 data and its padding.
    public static func archived(
        payload: [UInt8], sender: PublicKey, timestamp: UInt64, topic: ContentTopic, padding: [UInt8],
        hash: [UInt8], thirdPartyID: String = ""
    ) -> WireArchivedWakuMessage {
        var message = WireArchivedWakuMessage()
        message.sig = Data(sender.uncompressed)
        message.timestamp = timestamp
        message.topic = Data(topic.bytes)
        message.payload = Data(payload)
        message.padding = Data(padding)
        message.hash = Data(hash)
        message.thirdPartyID = thirdPartyID
        return message
    }
}
