import HistoryStore
import StatusWire

extension ChannelNames {
    /// What `messages --channel` or the API's `channel` parameter names: a channel's name first
    /// (as `messages` shows it, with or without `#`), else a channel UUID (as `--json` shows it)
    /// or a full chat ID (`0x…`).
    public func chatID(for channel: String, communityID: String) -> Lookup {
        switch lookup(name: channel) {
        case .notAName: return .chat(ChannelName.chatID(for: channel, in: communityID))
        case let found: return found
        }
    }
}
