import HistoryStore
import StatusWire

/// Why `messages --channel` or the API's `channel` names no one channel.
public struct AmbiguousChannelName: Error, CustomStringConvertible {
    public var name: String
    public var uuids: [String]

    public var description: String {
        "\(uuids.count) channels are named \(name): give one's UUID (\(uuids.joined(separator: ", ")))"
    }
}

extension ChannelNames {
    /// The chat ID that `messages --channel` or the API's `channel` parameter names: a channel's
    /// name first (as `messages` shows it, with or without `#`), else a channel UUID (as `--json`
    /// shows it) or a full chat ID (`0x…`).
    ///
    /// Throws `AmbiguousChannelName` when two channels have that name.
    public func chatID(for channel: String, communityID: String) throws -> String {
        switch lookup(name: channel) {
        case .chat(let chatID): return chatID
        case .notAName: return ChannelName.chatID(for: channel, in: communityID)
        case .ambiguous(let channels):
            throw AmbiguousChannelName(name: channel, uuids: channels.compactMap { ChannelName.uuid(of: $0.chatID, in: communityID) })
        }
    }
}
