import HistoryStore
import StatusWire

/// Why `messages --channel` names no channel of the community: not a name its description
/// gives, and no message of the community is in a chat of that UUID or ID.
public struct UnknownChannel: Error, CustomStringConvertible {
    public var given: String
    /// The community's channels as a user types them: `#name`, or the UUID of an unnamed one.
    public var known: [String]
    /// The closest of them, when one is close.
    public var suggestion: String?

    public var description: String {
        let channels = known.isEmpty ? "it has no messages yet" : "its channels: \(known.joined(separator: ", "))"
        if let suggestion { return "no channel \(given) in this community; did you mean \(suggestion)? (\(channels))" }
        return "no channel \(given) in this community; \(channels)"
    }
}

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

extension ChannelNames {
    /// `chatID(for:communityID:)`, checked against the community: a name must be one its
    /// description gives, a UUID or chat ID one that holds some of its messages
    /// (`chatsWithMessages`). Throws `UnknownChannel` (with the channels it has, and the
    /// closest one) or `AmbiguousChannelName`.
    public func knownChatID(for channel: String, communityID: String, chatsWithMessages: Set<String>) throws -> String {
        let chatID = try chatID(for: channel, communityID: communityID)
        if case .chat = lookup(name: channel) { return chatID }
        if chatsWithMessages.contains(chatID) || channels.contains(where: { $0.chatID == chatID }) { return chatID }
        let named = channels.sorted { $0.position < $1.position }.map { "#" + $0.name }
        let unnamed = chatsWithMessages.filter { chat in !channels.contains { $0.chatID == chat } }
            .map { ChannelName.uuid(of: $0, in: communityID) ?? $0 }.sorted()
        let known = named + unnamed
        throw UnknownChannel(given: channel, known: known, suggestion: Self.closest(to: channel, among: known))
    }

    /// The candidate nearest `given` (case and a leading `#` aside), if it is within a third of
    /// its length (at least 2) in edits.
    static func closest(to given: String, among candidates: [String]) -> String? {
        func plain(_ text: String) -> [Character] { Array((text.hasPrefix("#") ? String(text.dropFirst()) : text).lowercased()) }
        let wanted = plain(given)
        let scored = candidates.map { ($0, EditDistance.between(wanted, plain($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        return best.1 <= max(2, wanted.count / 3) ? best.0 : nil
    }
}

/// Levenshtein distance: the fewest single-character insertions, deletions and substitutions
/// that turn one string into the other.
enum EditDistance {
    static func between(_ a: [Character], _ b: [Character]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
