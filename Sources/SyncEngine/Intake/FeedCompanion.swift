import HistoryStore
import Logging
import WakuClient

/// A reader of one more content topic of a community's shard, beside its announcements (the
/// community's signed description, for its channels' names: `ChannelNaming`). The feed reads
/// that topic from the store when the run first catches up, and hands it each message the relay
/// or the store delivers on it, once per run. What it reads is for display: it never stops a sync.
public protocol FeedCompanion: Sendable {
    /// The content topic it reads.
    var contentTopic: String { get }

    /// Reads the topic's last `days` from the store (through `storePeer` when set) into `database`.
    func catchUp(from waku: WakuClient, days: Int, pubsubTopic: String, storePeer: String?, into database: HistoryDatabase, logger: Logger) async

    /// One message on its topic.
    func receive(_ message: WakuMessage, into database: HistoryDatabase, logger: Logger) async
}
