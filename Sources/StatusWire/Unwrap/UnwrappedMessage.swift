import StatusCrypto

/// One archived message after every layer is peeled off and its author verified.
public struct UnwrappedMessage: Sendable {
    /// `0x…` message ID (status-go's `user_messages.id`); for Discord imports the third-party ID.
    public let id: String
    /// Recovered from the `ApplicationMetadataMessage` signature.
    public let author: PublicKey
    /// The `ApplicationMetadataMessage` type (1 = chat message).
    public let type: UInt32
    /// The serialized inner message (e.g. a `ChatMessage`), kept for any type.
    public let payload: [UInt8]
    /// Decoded when `type` is a chat message.
    public let chatMessage: WireChatMessage?
    /// The archived envelope time, unix seconds.
    public let timestamp: UInt64
    public let contentTopic: ContentTopic
    /// Set for Discord-imported entries.
    public let thirdPartyID: String?
}

/// Why a single archived message was not stored. The raw values are stable: they appear in
/// reports, JSON and the `--expect` files.
public enum RejectionReason: String, Sendable, Codable, CodingKeyRepresentable, CaseIterable, Comparable {
    case undecodablePayload = "undecodable-payload"
    case encryptedKeyUnavailable = "encrypted-key-unavailable"
    /// Hash-ratchet encrypted with a key the member holds, but it does not open (a wrong key,
    /// a damaged payload) or its sequence number is past what status-go accepts.
    case decryptionFailed = "decryption-failed"
    case invalidSignature = "invalid-signature"
    case signerMismatch = "signer-mismatch"
    case undecodableChatMessage = "undecodable-chat-message"
    case segmentHashMismatch = "segment-hash-mismatch"
    case incompleteSegments = "incomplete-segments"
    case invalidTopic = "invalid-topic"
    case invalidTimestamp = "invalid-timestamp"
    case outsideArchiveRange = "outside-archive-range"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var explanation: String {
        switch self {
        case .undecodablePayload: return "the payload is neither a ProtocolMessage nor an ApplicationMetadataMessage"
        case .encryptedKeyUnavailable: return "hash-ratchet encrypted, key unavailable"
        case .decryptionFailed: return "hash-ratchet encrypted, does not open with the key held"
        case .invalidSignature: return "no author recovers from the ApplicationMetadataMessage signature"
        case .signerMismatch: return "the author differs from the archived sender key and from the community key"
        case .undecodableChatMessage: return "a chat message whose ChatMessage does not decode"
        case .segmentHashMismatch: return "reassembled segments do not hash to the announced hash"
        case .incompleteSegments: return "some segments of a segmented message are missing"
        case .invalidTopic: return "the archived content topic is not 4 bytes"
        case .invalidTimestamp: return "the archived timestamp is implausibly far in the future"
        case .outsideArchiveRange: return "the archived timestamp is outside the archive's [from, to): the archive may not speak for it"
        }
    }
}
