/// Content topics and the chat IDs derived from a community (status-go `ToTopic`).
///
/// ```swift
/// ContentTopic(chatID: "test-chat").string   // "/waku/1/0xa4abdf64/rfc26"
/// ```
public struct ContentTopic: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The first 4 bytes of keccak256(chat ID), as archives store them.
    public let bytes: [UInt8]

    public init(chatID: String) {
        bytes = Array(Keccak256.hash(Array(chatID.utf8)).prefix(4))
    }

    /// Wraps the raw 4 bytes an archive carries; nil when they are not 4 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 else { return nil }
        self.bytes = bytes
    }

    /// `/waku/1/0x<8 hex>/rfc26`
    public var string: String { "/waku/1/\(Hex.encode(bytes, prefixed: true))/rfc26" }
    public var description: String { string }

    /// Encoded as `0x` + 8 hex digits.
    public init(from decoder: any Swift.Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let topic = try? ContentTopic(bytes: Hex.decode(text)) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a 4-byte topic: \(text)"))
        }
        self = topic
    }

    public func encode(to encoder: any Swift.Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Hex.encode(bytes, prefixed: true))
    }
}

/// The chat IDs a community uses, all derived from its ID string (`0x` + compressed key).
public enum CommunityChatID {
    /// Archive channel of older (BitTorrent-era) control nodes.
    public static func magnetlinks(_ communityID: CommunityID) -> String { communityID.string + "-magnetlinks" }
    /// The universal chat, where newer control nodes publish archive links.
    public static func memberUpdate(_ communityID: CommunityID) -> String { communityID.string + "-memberUpdate" }
    /// A channel: the community ID and the channel UUID concatenated, no separator.
    public static func channel(_ communityID: CommunityID, channelUUID: String) -> String { communityID.string + channelUUID }
}
