import StatusCrypto

/// A community with its keys, members and channels, all derived from a seed.
public struct DemoCommunity: Sendable {
    public struct Channel: Sendable {
        public let name: String
        public let uuid: String
        public let chatID: String
        public var topic: ContentTopic { ContentTopic(chatID: chatID) }
    }

    public struct Member: Sendable {
        public let key: PrivateKey
        public let installationID: String
    }

    /// The community key: its public key is the community ID; it signs archive links.
    public let communityKey: PrivateKey
    /// The control node operator's user identity key: it signs the waku layer.
    public let ownerKey: PrivateKey
    public let members: [Member]
    public let channels: [Channel]

    public var communityID: CommunityID { CommunityID(publicKey: communityKey.publicKey) }
    public var memberUpdateTopic: ContentTopic { ContentTopic(chatID: CommunityChatID.memberUpdate(communityID)) }

    public init(seed: UInt64, memberCount: Int = 12, channelNames: [String] = ["general", "dev", "random"]) {
        var random = SeededGenerator(seed: seed)
        communityKey = Self.privateKey(&random)
        ownerKey = Self.privateKey(&random)
        members = (0..<memberCount).map { _ in
            Member(key: Self.privateKey(&random), installationID: Self.uuid(&random))
        }
        let id = CommunityID(publicKey: communityKey.publicKey)
        channels = channelNames.map { name in
            let uuid = Self.uuid(&random)
            return Channel(name: name, uuid: uuid, chatID: CommunityChatID.channel(id, channelUUID: uuid))
        }
    }

    static func privateKey(_ random: inout SeededGenerator) -> PrivateKey {
        while true {
            if let key = try? PrivateKey(bytes: random.bytes(32)) { return key }
        }
    }

    static func uuid(_ random: inout SeededGenerator) -> String {
        let hex = Hex.encode(random.bytes(16))
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4),
                     hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
    }
}
