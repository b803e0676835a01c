import Logging
import PeerDoctor
import PeerHTTP
import ServiceLifecycle
import SyncEngine

/// The agent's announcement intake as a service: checks the peers once and says what to fix,
/// then runs the feed (`AnnouncementFeed`: relay polls and store catch-ups) for the roster's
/// subscribers until the agent stops.
struct AnnouncementFeedService: Service {
    let context: AgentContext
    let feed: AnnouncementFeed<ContinuousClock>
    /// The roster's subscriber lists, newest last.
    let subscribers: AsyncStream<[FeedSubscriber]>
    /// The shards of the communities followed at start, checked once.
    let shards: [String]

    init(context: AgentContext, shards: [String], subscribers: AsyncStream<[FeedSubscriber]>) {
        self.context = context
        self.shards = shards
        self.subscribers = subscribers
        let configuration = context.configuration
        var settings = AnnouncementFeed<ContinuousClock>.Settings()
        settings.pollEvery = SecondsSetting.duration(configuration.relayPollSeconds ?? 2)
        settings.catchUpEvery = SecondsSetting.duration(configuration.storeCatchUpSeconds ?? 300)
        settings.catchUpHours = configuration.catchUpHours ?? 24
        settings.storePeer = configuration.storePeer
        let events = context.events
        feed = AnnouncementFeed(waku: context.waku, database: context.database, settings: settings, clock: ContinuousClock(),
                                logger: context.logger) { failure, shard in
            events.write(.storeFailed(reason: "\(failure)", retryable: failure.isRetryable, pubsubTopic: shard))
        }
    }

    func run() async {
        await reportMisconfiguration(shards)
        await cancelWhenGracefulShutdown { [feed, subscribers] in await feed.run(subscribers: subscribers) }
    }

    /// Checks the peers once at start and logs each failing check with its fix: the agent still
    /// runs (a node may come up later), but the user learns what to change. (The relay is
    /// checked by subscribing, just after.)
    private func reportMisconfiguration(_ shards: [String]) async {
        let checks = PeerCheck(waku: context.waku, codex: context.codex, storePeer: context.configuration.storePeer)
        var results = await checks.codexChecks()
        for shard in shards { results += await checks.waku(pubsubTopic: shard, includeRelay: false) }
        for result in results where !result.passed {
            context.logger.warning("check failed: \(result.name)", metadata: ["detail": "\(result.detail)", "fix": "\(result.fix ?? "")"])
        }
    }
}
