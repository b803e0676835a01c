import StatusCrypto
import Synchronization
import StatusWire

/// One run of one community, as the announcement feed serves it: which shard and channels to
/// hear, and where its announcements go. A community joined again after leaving (or restarted)
/// is a new run: it hears its announcements again.
public struct FeedSubscriber: Sendable {
    /// Tells this run from any other, past or present.
    public let run: Int
    public let communityID: CommunityID
    /// The shard the community publishes on.
    public let pubsubTopic: String
    public let channel: ArchiveChannel
    /// Reads one more topic of the community (its description, for channel names); nil: none.
    public let companion: (any FeedCompanion)?
    /// Hears each community-channel announcement once (signature checks are the machine's).
    public let deliver: @Sendable (ArchiveAnnouncement) -> Void
    /// Hears why a message on the channel was not an announcement.
    public let rejected: @Sendable (AnnouncementRejection) -> Void
    /// Asks the store for the whole first window (30 days) even where an earlier run caught up
    /// (a rescan): otherwise a run's first catch-up starts where the last one that answered ended.
    public let fromScratch: Bool

    public init(run: Int, communityID: CommunityID, pubsubTopic: String, channel: ArchiveChannel, companion: (any FeedCompanion)? = nil,
                fromScratch: Bool = false, deliver: @escaping @Sendable (ArchiveAnnouncement) -> Void,
                rejected: @escaping @Sendable (AnnouncementRejection) -> Void = { _ in }) {
        self.fromScratch = fromScratch
        self.run = run
        self.communityID = communityID
        self.pubsubTopic = pubsubTopic
        self.channel = channel
        self.companion = companion
        self.deliver = deliver
        self.rejected = rejected
    }
}

/// What the relay polls and a store catch-up running beside them both mark: each run gets a
/// message once, whichever delivers it first.
final class SharedSeenMessages: Sendable {
    private let seen = Mutex(SeenMessages())

    /// False when already seen.
    func insert(_ key: String) -> Bool { seen.withLock { $0.insert(key) } }
}

/// Message hashes already handed to a run (relay and store deliver the same messages). Keeps
/// the newest `capacity`.
struct SeenMessages: Sendable {
    private var hashes: Set<String> = []
    private var order: [String] = []
    private var oldest = 0
    let capacity: Int

    init(capacity: Int = 100_000) { self.capacity = capacity }

    /// False when already seen.
    mutating func insert(_ key: String) -> Bool {
        guard hashes.insert(key).inserted else { return false }
        if order.count < capacity {
            order.append(key)
        } else {
            hashes.remove(order[oldest])
            order[oldest] = key
            oldest = (oldest + 1) % capacity
        }
        return true
    }
}
