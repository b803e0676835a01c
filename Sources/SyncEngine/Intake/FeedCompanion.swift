import HistoryStore
import Logging
import WakuClient

/// A reader of one more content topic of a community's shard, beside its announcements (the
/// community's signed description, for its channels' names: `ChannelNaming`). The feed asks the
/// store for that topic when the run catches up, batched with other communities' topics (newest
/// first, until each companion found what it reads), and hands it each message the relay or the
/// store delivers on it, once per run. What it reads is for display: it never stops a sync.
public protocol FeedCompanion: Sendable {
    /// The content topic it reads.
    var contentTopic: String { get }
    /// The public chats whose keys reading needs (the feed derives and keeps them ahead).
    var chatIDs: [String] { get }

    /// One message on its topic. Returns whether it was what the companion reads (a description
    /// the community signed), recorded or not: a catch-up stops paging back for it then.
    @discardableResult
    func receive(_ message: WakuMessage, into database: HistoryDatabase, logger: Logger) async -> Bool
}
