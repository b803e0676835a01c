/// A community channel's readable name: the UUID part of its chat ID (a community channel's chat
/// ID is the community ID followed by the channel's UUID), which `messages --channel` and the
/// local API's `channel` parameter take back.
public enum ChannelName {
    public static func uuid(of chatID: String?, in communityID: String) -> String? {
        guard let chatID, chatID.hasPrefix(communityID), chatID.count > communityID.count else { return nil }
        return String(chatID.dropFirst(communityID.count))
    }

    /// The chat ID for `channel`: a full chat ID as it is, a UUID prefixed with the community ID.
    public static func chatID(for channel: String, in communityID: String) -> String {
        channel.lowercased().hasPrefix("0x") ? channel : communityID + channel
    }
}
