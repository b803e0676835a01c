import ArchiveImport
import ChannelNameFeed
import Foundation
import Logging
import PeerHTTP
import StatusCrypto
import StatusWire
import Synchronization
import SyncEngine

/// One run of one followed community: its settings, its driver, and the streams that feed and
/// stop it. A leave and a join, or a restart, make a new follower with a new `generation`.
struct Follower: Sendable {
    let communityID: CommunityID
    let origin: CommunityOrigin
    let settings: AgentConfiguration.Community
    /// Tells this run of the community from an earlier one.
    let generation: Int
    let driver: CommunitySyncDriver
    /// The announcement feed's view of this run: the shard, the channels, where announcements go.
    let subscriber: FeedSubscriber
    /// Forget which index was processed when starting (a rescan).
    let rescan: Bool
    /// Announcements the feed routed to this community, consumed by its driver's `run`.
    let announcements: AsyncStream<ArchiveAnnouncement>
    let feed: AsyncStream<ArchiveAnnouncement>.Continuation
    /// Finished to stop this community (leave, restart); the agent's stop cancels it instead.
    let stopSignal: AsyncStream<Void>
    let stop: AsyncStream<Void>.Continuation
}

/// Makes followers: what every community's driver shares (the agent-wide budgets, the disk
/// ledger, the bandwidth cap) is held here once.
final class FollowerFactory: Sendable {
    let context: AgentContext
    private let archivesRoot: URL
    private let bandwidth: BandwidthLimiter?
    /// Downloads and imports at once across every community (issue 27): what the agent holds
    /// open stays flat as communities are added.
    private let budget = WorkBudget()
    /// One ledger for every community: their downloads share the disk.
    private let diskReservations = DiskReservations()
    private let generations = Atomic<Int>(0)
    private let onEvent: @Sendable (String, SyncEvent) -> Void

    init(context: AgentContext, onEvent: @escaping @Sendable (String, SyncEvent) -> Void) {
        self.context = context
        self.onEvent = onEvent
        let configuration = context.configuration
        archivesRoot = URL(fileURLWithPath: configuration.archivesDirectory ?? configuration.databasePath + ".archives")
        bandwidth = configuration.maxDownloadBytesPerSecond.map { BandwidthLimiter(bytesPerSecond: $0) }
    }

    func archivesDirectory(of id: CommunityID) -> URL {
        archivesRoot.appendingPathComponent(String(id.string.prefix(18)))
    }

    /// A follower for checked settings (`validate(_:)` passed: a failure here is a programming error).
    func make(_ community: AgentConfiguration.Community, origin: CommunityOrigin, rescan: Bool = false) -> Follower {
        let (configuration, metrics, events, onEvent) = (context.configuration, context.metrics, context.events, self.onEvent)
        let communityID = try! community.communityID()
        let label = communityID.string
        let machine = CommunitySyncMachine.Configuration(
            communityID: communityID, selection: try! community.selection(),
            quietWindow: SecondsSetting.duration(community.settleSeconds ?? 20),  // in range: validate(_:) passed
            maxConcurrentDownloads: community.concurrency ?? 3)
        let driver = CommunitySyncDriver(
            configuration: machine, database: context.database, codex: context.codex, archivesDirectory: archivesDirectory(of: communityID),
            importOptions: ArchiveImportOptions(mode: community.hydration ?? .replace, keys: context.keys),
            diskMarginBytes: configuration.diskMarginBytes ?? 100 << 20, diskReservations: diskReservations, bandwidth: bandwidth,
            budget: budget, logger: context.logger,
            onEvent: { event in
                metrics.record(event, community: label)
                events.write(.sync(community: communityID, event))
                onEvent(label, event)
            })
        let (announcements, feed) = AsyncStream.makeStream(of: ArchiveAnnouncement.self)
        let (stopSignal, stop) = AsyncStream.makeStream(of: Void.self)
        let generation = generations.add(1, ordering: .relaxed).newValue
        let subscriber = FeedSubscriber(
            run: generation, communityID: communityID, pubsubTopic: configuration.pubsubTopic(of: community),
            channel: ArchiveChannel(communityID: communityID), companion: ChannelNaming(communityID: communityID), fromScratch: rescan,
            deliver: { feed.yield($0) }, rejected: { metrics.rejectedAnnouncement($0.rawValue, community: label) })
        return Follower(communityID: communityID, origin: origin, settings: community, generation: generation, driver: driver,
                        subscriber: subscriber, rescan: rescan, announcements: announcements, feed: feed, stopSignal: stopSignal, stop: stop)
    }
}
