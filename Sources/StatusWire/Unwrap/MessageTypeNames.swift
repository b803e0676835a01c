/// Readable names of `ApplicationMetadataMessage.type` numbers, for people and chat clients
/// reading the history (`messages`, the local API). From status-go's
/// `application_metadata_message.proto` (`status-wire.md`, "Type numbers"); a number not
/// listed there has no name (shown as `type N`).
public enum MessageTypeNames {
    public static let known: [Int: String] = [
        1: "chat-message",
        22: "emoji-reaction",
        25: "community-description",
        28: "pin-message",
        29: "edit-message",
        31: "delete-message",
        43: "community-message-archive-link",  // COMMUNITY_MESSAGE_ARCHIVE_LINK (was …_MAGNETLINK)
        48: "community-request-to-join-response",
        79: "community-public-shard-info",
        85: "delete-community-member-messages",
    ]

    /// The name of `type`, nil when it is not one of `known`.
    public static func name(of type: Int) -> String? { known[type] }
}
