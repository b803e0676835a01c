import Foundation
import HistoryStore
import Logging
import PeerHTTP
import StatusWire
import WakuClient

/// Hears archive announcements for the communities it serves: the relay's cache of each shard,
/// polled, and store queries that find what the relay missed (30 days for a community it has not
/// caught up yet, then the last `catchUpHours` periodically). Each run of a community gets a
/// message once, though relay and store both deliver it. Channel names come the same way.
///
/// The agent runs `run(subscribers:)`, and tells it who to serve by sending the whole list on
/// that stream each time it changes; `sync` makes one `catchUp(hours:subscribers:)`. Time is
/// read from `clock` only, so tests run it on a manual clock.
///
/// ```swift
/// let feed = AnnouncementFeed(waku: waku, database: db, settings: .init(), clock: ContinuousClock())
/// let (changes, roster) = AsyncStream.makeStream(of: [FeedSubscriber].self)
/// roster.yield([subscriber])
/// await feed.run(subscribers: changes)   // until cancelled
/// ```
public struct AnnouncementFeed<C: Clock>: Sendable where C.Duration == Duration {
    public struct Settings: Sendable {
        /// Between relay polls.
        public var pollEvery: Duration = .seconds(2)
        /// Between periodic store catch-ups.
        public var catchUpEvery: Duration = .seconds(300)
        /// What a periodic catch-up asks the store for.
        public var catchUpHours: Double = 24
        /// What a community not caught up yet (new, joined, restarted) asks the store for.
        public var firstCatchUpHours: Double = 24 * 30
        /// A node that forgot the relay subscription (it restarted) is asked again at most this often.
        public var resubscribeEvery: Duration = .seconds(30)
        /// Sent as `peerAddr` when set; otherwise the nwaku node's own store peer is asked.
        public var storePeer: String?

        public init() {}
    }

    let waku: WakuClient
    let database: HistoryDatabase
    let settings: Settings
    let clock: C
    let logger: Logger
    /// A store query that did not answer in full (the feed logs it and tries again later).
    let onStoreFailure: @Sendable (StoreError, _ pubsubTopic: String) -> Void

    public init(waku: WakuClient, database: HistoryDatabase, settings: Settings, clock: C,
                logger: Logger = Logger(label: "community-history.feed"),
                onStoreFailure: @escaping @Sendable (StoreError, _ pubsubTopic: String) -> Void = { _, _ in }) {
        self.waku = waku
        self.database = database
        self.settings = settings
        self.clock = clock
        self.logger = logger
        self.onStoreFailure = onStoreFailure
    }

    /// What the loop keeps between turns. Only `run`'s loop touches it.
    struct State {
        var subscribers: [FeedSubscriber] = []
        /// Runs whose first (30-day) catch-up has not answered in full yet.
        var uncaught: Set<Int> = []
        /// Runs whose first catch-up was tried at once: a failed one is asked again at the
        /// periodic catch-up's pace, not at every poll.
        var tried: Set<Int> = []
        var subscribed: Set<String> = []
        var seen = SeenMessages()
        var lastCatchUp: C.Instant
        var lastResubscribe: C.Instant?

        /// Takes the roster's new list: a run not seen before is not caught up yet.
        mutating func serve(_ new: [FeedSubscriber]) {
            let known = Set(subscribers.map(\.run))
            let current = Set(new.map(\.run))
            uncaught = uncaught.intersection(current).union(current.subtracting(known))
            tried.formIntersection(current)
            subscribers = new
        }
    }

    private enum Mail: Sendable {
        case subscribers([FeedSubscriber])
        case turnDue
    }

    /// Polls and catches up until the calling task is cancelled. The roster's changes and the
    /// poll timer come to one loop, which owns the state; a change takes effect at the next turn.
    public func run(subscribers changes: AsyncStream<[FeedSubscriber]>) async {
        let (mailbox, post) = AsyncStream.makeStream(of: Mail.self)
        var state = State(lastCatchUp: clock.now)
        await withDiscardingTaskGroup { group in
            group.addTask { for await list in changes { post.yield(.subscribers(list)) } }
            // The first turn waits for the first list, so that a roster known at start is served at once.
            var started = false
            for await mail in mailbox {
                switch mail {
                case .subscribers(let list):
                    state.serve(list)
                    if !started { post.yield(.turnDue) }
                    started = true
                case .turnDue:
                    await turn(&state)
                    group.addTask {
                        do { try await clock.sleep(for: settings.pollEvery) } catch { return }
                        post.yield(.turnDue)
                    }
                }
            }
            group.cancelAll()
        }
    }

    /// One turn: subscribe to new shards, give new runs their first catch-up, read the relay,
    /// and catch everyone up when it is time.
    private func turn(_ state: inout State) async {
        let subscribers = state.subscribers
        let shards = Set(subscribers.map(\.pubsubTopic)).sorted()
        let newShards = shards.filter { !state.subscribed.contains($0) }
        if !newShards.isEmpty {
            await subscribe(newShards)
            state.subscribed.formUnion(newShards)
        }
        let fresh = subscribers.filter { state.uncaught.contains($0.run) && !state.tried.contains($0.run) }
        if !fresh.isEmpty {
            state.tried.formUnion(fresh.map(\.run))
            guard let caughtUp = try? await catchUp(hours: settings.firstCatchUpHours, subscribers: fresh, seen: &state.seen) else { return }
            state.uncaught.subtract(caughtUp.answered)
            // Channel names: the newest description in the store; later ones come by relay.
            await catchUpCompanions(of: fresh)
        }
        await pollRelay(shards, state: &state)
        if state.lastCatchUp.duration(to: clock.now) >= settings.catchUpEvery {
            // Those whose 30-day query failed get it again; the others the usual window.
            let behind = subscribers.filter { state.uncaught.contains($0.run) }
            guard let caughtUp = try? await catchUp(hours: settings.firstCatchUpHours, subscribers: behind, seen: &state.seen) else { return }
            state.uncaught.subtract(caughtUp.answered)
            let current = subscribers.filter { !state.uncaught.contains($0.run) }
            guard (try? await catchUp(hours: settings.catchUpHours, subscribers: current, seen: &state.seen)) != nil else { return }
            // Names again too (a small page each): renames the relay missed while it was down.
            await catchUpCompanions(of: current)
            state.lastCatchUp = clock.now
        }
    }

    /// Subscribes the node's relay to the shards (`POST /relay/v1/subscriptions`).
    private func subscribe(_ shards: [String]) async {
        do { try await waku.subscribe(pubsubTopics: shards) } catch {
            logger.warning("relay subscription failed; relying on store catch-up", metadata: [
                "error": "\(error)", "fix": "\(RelayFix.subscribe(shards: shards))",
            ])
        }
    }

    /// Reads each shard's relay cache and hands on what belongs to a subscriber.
    private func pollRelay(_ shards: [String], state: inout State) async {
        var failed = false
        for shard in shards {
            do {
                for message in try await waku.relayMessages(pubsubTopic: shard) {
                    await route(message, pubsubTopic: shard, to: state.subscribers, seen: &state.seen)
                }
            } catch {
                failed = true
            }
        }
        // A node that restarted has forgotten the subscription: subscribe again (the store
        // catch-up covers what was missed meanwhile).
        guard failed else { return }
        if let last = state.lastResubscribe, last.duration(to: clock.now) < settings.resubscribeEvery { return }
        state.lastResubscribe = clock.now
        await subscribe(shards)
    }

    private func catchUpCompanions(of subscribers: [FeedSubscriber]) async {
        for subscriber in subscribers {
            await subscriber.companion?.catchUp(from: waku, days: Int(settings.firstCatchUpHours / 24), pubsubTopic: subscriber.pubsubTopic,
                                                storePeer: settings.storePeer, into: database, logger: logger.with(community: subscriber.communityID))
        }
    }
}
