import Foundation

/// A row of the `message` table, as the store reads and writes it. The store knows nothing
/// of the wire: the importer fills this in from a verified archived message.
public struct StoredMessage: Sendable, Hashable, Codable {
    public enum Source: String, Sendable, Codable {
        /// From a control-node archive: the canonical history.
        case archive
        /// Received live by the chat client; replaced or removed when an archive covers it.
        case local
    }

    public var id: String
    public var communityID: String
    public var chatID: String?
    /// `/waku/1/0x…/rfc26`
    public var contentTopic: String
    /// `0x` + compressed public key.
    public var author: String
    /// `ApplicationMetadataMessage` type.
    public var type: Int
    public var clock: UInt64?
    /// Milliseconds since 1970 (the archived envelope time × 1000, like status-go's
    /// `whisper_timestamp`).
    public var timestamp: Int64
    /// The serialized inner message (e.g. a `ChatMessage`).
    public var payload: Data
    public var text: String?
    public var thirdPartyID: String?
    public var source: Source
    public var archiveID: String?

    public init(
        id: String, communityID: String, chatID: String?, contentTopic: String, author: String, type: Int,
        clock: UInt64?, timestamp: Int64, payload: Data, text: String?, thirdPartyID: String? = nil,
        source: Source, archiveID: String? = nil
    ) {
        self.id = id
        self.communityID = communityID
        self.chatID = chatID
        self.contentTopic = contentTopic
        self.author = author
        self.type = type
        self.clock = clock
        self.timestamp = timestamp
        self.payload = payload
        self.text = text
        self.thirdPartyID = thirdPartyID
        self.source = source
        self.archiveID = archiveID
    }
}
