import ControlNode
import Foundation
import StatusCrypto
@testable import StatusWire
import Testing

/// Channel names come from the description the control node signs and publishes on the
/// community's own chat; only the community key may name channels.
@Suite struct CommunityDescriptionTests {
    static let community = DemoCommunity(seed: 1)
    static let chat = CommunityDescriptionChannel(communityID: community.communityID)
    static var channels: [(uuid: String, name: String)] { community.channels.map { (uuid: $0.uuid, name: $0.name) } }

    static func payload(clock: UInt64, channels: [(uuid: String, name: String)] = CommunityDescriptionTests.channels,
                        signer: PrivateKey = community.communityKey) throws -> [UInt8] {
        var random = SeededGenerator(seed: clock)
        return try AnnouncementFactory.descriptionPayload(clock: clock, channels: channels, communityID: community.communityID,
                                                          signer: signer, random: &random)
    }

    @Test func theCommunitysDescriptionNamesItsChannelsInItsOrder() throws {
        let decoded = Self.chat.decode(payload: try Self.payload(clock: 42), contentTopic: Self.chat.topic.string)
        guard case .directory(let directory) = decoded else { Issue.record("\(decoded)"); return }
        #expect(directory.clock == 42)
        #expect(directory.channels.map(\.name) == ["general", "dev", "random"])
        #expect(directory.channels.map(\.uuid) == Self.community.channels.map(\.uuid))
        // The chat is the community's own, `IDString()`: its topic is keccak of the ID string.
        #expect(Self.chat.topic == ContentTopic(chatID: Self.community.communityID.string))
    }

    @Test func aDescriptionSignedByAnyoneElseNamesNothing() throws {
        let forger = try PrivateKey(bytes: Keccak256.hash(Array("not the community".utf8)))
        let forged = try Self.payload(clock: 43, channels: [(uuid: Self.community.channels[0].uuid, name: "pwned")], signer: forger)
        #expect(Self.chat.decode(payload: forged, contentTopic: Self.chat.topic.string) == .rejected(.notSignedByCommunity))
    }

    /// Review: a clock past Int64's range crashed the store's write (GRDB traps converting it).
    @Test func aClockNoRealDescriptionHasIsRefused() throws {
        #expect(Self.chat.decode(payload: try Self.payload(clock: UInt64.max), contentTopic: Self.chat.topic.string) == .rejected(.notADescription))
        guard case .directory? = Optional(Self.chat.decode(payload: try Self.payload(clock: UInt64(Int64.max)), contentTopic: Self.chat.topic.string))
        else { Issue.record("Int64.max is a clock SQLite can hold"); return }
    }

    @Test func otherMessagesOnTheChatAreNotDescriptions() throws {
        // An archive link on the community chat: signed by the community, but not type 25.
        let link = try MessageFactory.archiveLink(clock: 5, link: "zDvZ", communityKey: Self.community.communityKey)
        var random = SeededGenerator(seed: 3)
        let plaintext = try WakuPayloadV1.encode(data: link, signer: Self.community.communityKey,
                                                 padding: random.bytes(WakuPayloadV1.paddingLength(dataCount: link.count, signed: true)))
        let sealed = try WakuSymmetricCipher.seal(plaintext, key: try ChatSymmetricKey.derive(chatID: Self.chat.chatID))
        #expect(Self.chat.decode(payload: sealed, contentTopic: Self.chat.topic.string) == .rejected(.notADescription))
        // Sealed for another chat.
        let elsewhere = try WakuSymmetricCipher.seal(plaintext, key: try ChatSymmetricKey.derive(chatID: "another-chat"))
        #expect(Self.chat.decode(payload: elsewhere, contentTopic: Self.chat.topic.string) == .rejected(.undecryptable))
        #expect(Self.chat.decode(payload: try Self.payload(clock: 9), contentTopic: "/waku/1/0x00000000/rfc26") == .rejected(.otherTopic))
    }

    /// status-go's field numbers, written byte by byte rather than through our own .proto:
    /// `CommunityDescription{clock = 1, chats = 6 (map<string, CommunityChat>)}`,
    /// `CommunityChat{identity = 3, position = 5}`, `ChatIdentity{display_name = 4}`
    /// (`protocol/protobuf/communities.proto`, `chat_identity.proto`; 62/STATUS-PAYLOADS).
    @Test func theDescriptionIsReadWithStatusGosFieldNumbers() throws {
        func field(_ number: UInt8, _ bytes: [UInt8]) -> [UInt8] { [number << 3 | 2, UInt8(bytes.count)] + bytes }
        let identity = field(4, Array("announcements".utf8))                 // ChatIdentity.display_name
        let chat = field(3, identity) + [5 << 3, 7]                            // CommunityChat.identity, .position = 7
        let entry = field(1, Array("8e3c-uuid".utf8)) + field(2, chat)         // map entry: key, value
        let members = field(2, field(1, Array("0x04ab".utf8)))                 // members (2): an entry with an empty value
        let description: [UInt8] = [1 << 3, 0x96, 0x01] + members + field(6, entry)  // clock = 150
        let directory = CommunityDescriptionChannel.directory(of: try WireCommunityDescription(serializedBytes: description))
        #expect(directory == ChannelDirectory(clock: 150, channels: [.init(uuid: "8e3c-uuid", name: "announcements", position: 7)]))
    }
}
