import Crypto
import Foundation
import StatusCrypto
import SwiftProtobuf

/// The special channels a community's control node announces archives on: `<id>-magnetlinks`
/// (older control nodes) and `<id>-memberUpdate` (newer ones), with their content topics and
/// symmetric keys, and the decoder that turns a Waku payload on them into an announcement.
///
/// ```swift
/// let channel = ArchiveChannel(communityID: try CommunityID("0x02…"))
/// switch channel.decode(payload: message.payload, contentTopic: message.contentTopic) {
/// case .announcement(let announcement): …
/// case .rejected(let reason): …
/// }
/// ```
public struct ArchiveChannel: Sendable {
    /// `COMMUNITY_MESSAGE_ARCHIVE_LINK = 43` (status-go
    /// `internal/protocol/protobuf/application_metadata_message.proto`): the torrent era's
    /// number, kept for the storage-node era. Payload `CommunityMessageArchiveLink{uint64 clock
    /// = 1; string archive_link = 2}`, sent on `<id>-memberUpdate` signed by the community key.
    public static let magnetlinkType: UInt32 = 43

    public struct Chat: Sendable {
        public let chatID: String
        public let topic: ContentTopic
    }

    public let communityID: CommunityID
    public let chats: [Chat]

    public var contentTopics: [String] { chats.map(\.topic.string) }
    /// The chats whose keys `decode` uses (derive them ahead with `ChatSymmetricKey`).
    public var chatIDs: [String] { chats.map(\.chatID) }

    /// Names the chats and their topics. The keys (PBKDF2, 65,356 rounds each) are derived when
    /// first used, once per process (`ChatSymmetricKey`): building a channel costs nothing.
    public init(communityID: CommunityID) {
        self.communityID = communityID
        chats = [CommunityChatID.magnetlinks(communityID), CommunityChatID.memberUpdate(communityID)].map {
            Chat(chatID: $0, topic: ContentTopic(chatID: $0))
        }
    }

    /// Decrypts with the key of every chat on `contentTopic`, unwraps to the AMM, recovers the
    /// signer and reads `{clock, link}`.
    public func decode(payload: [UInt8], contentTopic: String) -> AnnouncementDecoding {
        // Deriving fails only for parameters this code never passes (PBKDF2 of a chat ID).
        let keys = chats.filter { $0.topic.string == contentTopic }.compactMap { try? ChatSymmetricKey.derive(chatID: $0.chatID) }
        switch PublicChatMessage.open(payload, keys: keys) {
        case .success(let message): return Self.announcement(in: message, contentTopic: contentTopic)
        case .failure(let failure): return .rejected(AnnouncementRejection(failure))
        }
    }

    /// From the L1 data on: `ProtocolMessage.public_message` (or a bare AMM) → AMM → signer →
    /// `{1: clock, 2: link}`.
    static func decodeApplicationLayer(_ data: [UInt8], contentTopic: String) -> AnnouncementDecoding {
        switch PublicChatMessage.applicationLayer(data) {
        case .success(let message): return announcement(in: message, contentTopic: contentTopic)
        case .failure(let failure): return .rejected(AnnouncementRejection(failure))
        }
    }

    private static func announcement(in message: PublicChatMessage, contentTopic: String) -> AnnouncementDecoding {
        let amm = message.amm, signer = message.signer
        // Type 43, or any type whose payload has the link shape: a varint clock (1) and a link
        // string (2), status-go's `CommunityMessageArchiveLink` (`communities.proto`). Other
        // fields are allowed: one added by a newer status-go must not make every real
        // announcement unreadable. The link must still be a storage node (Codex) CID, and the
        // signer the community, before anything is fetched.
        guard let link = try? WireCommunityMessageArchiveLink(serializedBytes: amm.payload), link.clock > 0, !link.link.isEmpty
        else { return .rejected(.notAnArchiveLink) }
        if link.link.hasPrefix("magnet:") { return .rejected(.torrentArchive) }
        // The index is a Codex upload: its CID is a manifest CID (a block or tree CID cannot be fetched).
        guard let cid = try? CID(link.link), cid.isCodexManifest else { return .rejected(.invalidCID) }
        return .announcement(ArchiveAnnouncement(clock: link.clock, indexCID: cid, signer: signer, messageType: amm.type,
                                                 contentTopic: contentTopic))
    }
}

extension AnnouncementRejection {
    init(_ failure: PublicChatMessage.Failure) {
        switch failure {
        case .undecryptable: self = .undecryptable
        case .malformedEnvelope: self = .malformedEnvelope
        case .notApplicationMessage: self = .notApplicationMessage
        case .invalidSignature: self = .invalidSignature
        }
    }
}
