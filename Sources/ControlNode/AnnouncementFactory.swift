import Foundation
import StatusCrypto
import StatusWire

/// Builds what a control node publishes on the archive channel: the link message signed by
/// the community key, wrapped in a `ProtocolMessage`, in a 26/WAKU2-PAYLOAD v1 envelope
/// signed by the operator's user key, encrypted with the channel's symmetric key.
public enum AnnouncementFactory {
    /// The encrypted Waku payload (`ct || tag || nonce`) for the announcement of `indexCID`.
    public static func payload(
        clock: UInt64, link: String, chatID: String, communityKey: PrivateKey, ownerKey: PrivateKey,
        type: UInt32 = ArchiveChannel.magnetlinkType, random: inout SeededGenerator
    ) throws -> [UInt8] {
        let amm = try MessageFactory.archiveLink(clock: clock, link: link, type: type, communityKey: communityKey)
        let data = try MessageFactory.publicProtocolMessage(amm, installationID: "control-node")
        let padding = random.bytes(WakuPayloadV1.paddingLength(dataCount: data.count, signed: true))
        let plaintext = try WakuPayloadV1.encode(data: data, signer: ownerKey, padding: padding)
        return try WakuSymmetricCipher.seal(plaintext, key: try ChatSymmetricKey.derive(chatID: chatID), nonce: random.bytes(12))
    }

    /// The encrypted Waku payload of the community's description, as status-go's `publishOrg`
    /// sends it (`SendPublic(ctx, org.IDString(), …)` with `SkipEncryptionLayer` and the community
    /// key as sender): the bare AMM in a v1 envelope signed by the community key, sealed with the
    /// key of the community's own chat. A `signer` other than the community key makes a forgery.
    public static func descriptionPayload(
        clock: UInt64, channels: [(uuid: String, name: String)], communityID: CommunityID, signer: PrivateKey,
        random: inout SeededGenerator
    ) throws -> [UInt8] {
        let amm = try MessageFactory.communityDescription(clock: clock, channels: channels, communityKey: signer)
        let padding = random.bytes(WakuPayloadV1.paddingLength(dataCount: amm.count, signed: true))
        let plaintext = try WakuPayloadV1.encode(data: amm, signer: signer, padding: padding)
        return try WakuSymmetricCipher.seal(plaintext, key: try ChatSymmetricKey.derive(chatID: communityID.string), nonce: random.bytes(12))
    }
}
