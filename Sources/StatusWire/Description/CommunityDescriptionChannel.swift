import Crypto
import Foundation
import StatusCrypto
import SwiftProtobuf

/// The community's own chat (`IDString()`, status-go `community.go:1518`), where its control
/// node publishes the signed `CommunityDescription` that names the channels. status-go sends it
/// there with `SendPublic(ctx, org.IDString(), …)` and the community key as sender; archives
/// hold only the channel and universal topics, so names come from here, not from archives.
///
/// ```swift
/// let chat = CommunityDescriptionChannel(communityID: id)
/// if case .directory(let directory) = chat.decode(payload: message.payload, contentTopic: message.contentTopic) {
///     print(directory.channels.map(\.name))   // ["general", "dev", "random"]
/// }
/// ```
public struct CommunityDescriptionChannel: Sendable {
    /// `ApplicationMetadataMessage.Type.COMMUNITY_DESCRIPTION` (status-wire.md, the AMM type list).
    public static let descriptionType: UInt32 = 25

    public let communityID: CommunityID
    public let chatID: String
    public let topic: ContentTopic

    /// Names the chat and its topic. Its key (PBKDF2, 65,356 rounds) is derived when first
    /// used, once per process (`ChatSymmetricKey`).
    public init(communityID: CommunityID) {
        self.communityID = communityID
        chatID = communityID.string
        topic = ContentTopic(chatID: chatID)
    }

    public enum Decoding: Sendable, Equatable {
        case directory(ChannelDirectory)
        case rejected(Rejection)
    }

    /// Why a message on the description chat names no channels. Raw values appear in logs.
    public enum Rejection: String, Sendable, Equatable {
        case otherTopic = "other-topic"
        case undecryptable = "undecryptable"
        case malformedEnvelope = "malformed-envelope"
        case notApplicationMessage = "not-an-application-message"
        case invalidSignature = "invalid-signature"
        case notADescription = "not-a-description"
        /// Only the control node (the community key) may describe the community: anyone can
        /// publish on the chat, and a forged description would rename channels.
        case notSignedByCommunity = "not-signed-by-community"
    }

    /// Opens a Waku payload from the chat and reads the channel names, if the community signed it.
    public func decode(payload: [UInt8], contentTopic: String) -> Decoding {
        guard contentTopic == topic.string else { return .rejected(.otherTopic) }
        // Deriving fails only for parameters this code never passes (PBKDF2 of a chat ID).
        guard let key = try? ChatSymmetricKey.derive(chatID: chatID) else { return .rejected(.undecryptable) }
        switch PublicChatMessage.open(payload, keys: [key]) {
        case .failure(.undecryptable): return .rejected(.undecryptable)
        case .failure(.malformedEnvelope): return .rejected(.malformedEnvelope)
        case .failure(.notApplicationMessage): return .rejected(.notApplicationMessage)
        case .failure(.invalidSignature): return .rejected(.invalidSignature)
        case .success(let message):
            // A clock past Int64's range would not fit SQLite's integer: no real clock is that large.
            guard message.amm.type == Self.descriptionType,
                  let description = try? WireCommunityDescription(serializedBytes: message.amm.payload),
                  description.clock > 0, description.clock <= UInt64(Int64.max)
            else { return .rejected(.notADescription) }
            guard CommunityID(publicKey: message.signer) == communityID else { return .rejected(.notSignedByCommunity) }
            return .directory(Self.directory(of: description))
        }
    }

    /// Channels without a display name are left out (the UUID still identifies them).
    static func directory(of description: WireCommunityDescription) -> ChannelDirectory {
        let channels = description.chats.compactMap { uuid, chat -> ChannelDirectory.Channel? in
            let name = chat.identity.displayName.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty, !uuid.isEmpty else { return nil }
            return ChannelDirectory.Channel(uuid: uuid, name: name, position: Int(chat.position))
        }
        return ChannelDirectory(clock: description.clock, channels: channels)
    }
}
