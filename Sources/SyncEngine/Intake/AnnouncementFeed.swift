import Foundation
import HistoryStore
import Logging
import PeerHTTP
import StatusWire
import Synchronization
import WakuClient

/// Hears archive announcements for the communities it serves: the relay's cache of each shard,
/// polled, and store queries that find what the relay missed (for a community not caught up yet
/// in this run, 30 days, or since where its last run's catch-up ended; then the last
/// `catchUpHours` periodically), run beside the polls. Each run of a community gets a
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
        /// What a community not caught up yet (new, joined, restarted) asks the store for, at most
        /// (a run resumes where its community's last one ended: `storeCatchUpResumePoints`).
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
    /// The chats whose keys the database keeps (read at start, added to as they are kept).
    let keptChatKeys = KeptChatKeys()

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
        /// Runs whose first catch-up has not answered in full yet.
        var uncaught: Set<Int> = []
        /// Runs whose first catch-up was tried at once: a failed one is asked again at the
        /// periodic catch-up's pace, not at every poll.
        var tried: Set<Int> = []
        var subscribed: Set<String> = []
        /// Shared with the catch-up running beside the polls.
        let seen = SharedSeenMessages()
        var lastCatchUp: C.Instant
        var lastResubscribe: C.Instant?
        /// A catch-up is running (at most one at a time).
        var catchingUp = false

        /// Takes the roster's new list: a run not seen before is not caught up yet.
        mutating func serve(_ new: [FeedSubscriber]) {
            let known = Set(subscribers.map(\.run))
            let current = Set(new.map(\.run))
            uncaught = uncaught.intersection(current).union(current.subtracting(known))
            tried.formIntersection(current)
            subscribers = new
        }
    }

    /// A catch-up that ended: which runs it answered for, and whether it was the periodic one.
    struct CatchUpOutcome: Sendable {
        var answered: Set<Int>
        var periodic: Bool
        /// Cancelled before it ended: nothing is recorded.
        var cancelled: Bool
    }

    private enum Mail: Sendable {
        case subscribers([FeedSubscriber])
        case turnDue
        case caughtUp(CatchUpOutcome)
    }

    /// Polls and catches up until the calling task is cancelled. The roster's changes, the poll
    /// timer and the catch-ups' outcomes come to one loop, which owns the state; a change takes
    /// effect at the next turn. A store catch-up runs as a child task beside the polls (a
    /// thousand communities' catch-up is hundreds of queries; the relay is read meanwhile).
    public func run(subscribers changes: AsyncStream<[FeedSubscriber]>) async {
        await rememberKeptChatKeys()
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
                    // Subscribed before the store is asked: nothing published between the two is missed.
                    await subscribeNewShards(&state)
                    if let catchUp = startCatchUp(&state) {
                        group.addTask { post.yield(.caughtUp(await catchUp())) }
                    }
                    await pollRelay(Set(state.subscribers.map(\.pubsubTopic)).sorted(), state: &state)
                    group.addTask {
                        do { try await clock.sleep(for: settings.pollEvery) } catch { return }
                        post.yield(.turnDue)
                    }
                case .caughtUp(let outcome):
                    state.catchingUp = false
                    guard !outcome.cancelled else { continue }
                    state.uncaught.subtract(outcome.answered)
                    if outcome.periodic { state.lastCatchUp = clock.now }
                }
            }
            group.cancelAll()
        }
    }

    /// The catch-up due now, if none is running: the first one of new runs (30 days, or from
    /// where their community's last one ended), else the periodic one when it is time.
    private func startCatchUp(_ state: inout State) -> (@Sendable () async -> CatchUpOutcome)? {
        guard !state.catchingUp else { return nil }
        let seen = state.seen
        let fresh = state.subscribers.filter { state.uncaught.contains($0.run) && !state.tried.contains($0.run) }
        if !fresh.isEmpty {
            state.tried.formUnion(fresh.map(\.run))
            state.catchingUp = true
            return { [self] in
                do {
                    let result = try await catchUp(hours: settings.firstCatchUpHours, subscribers: fresh, seen: seen, resume: true, record: true)
                    return CatchUpOutcome(answered: result.answered, periodic: false, cancelled: false)
                } catch {
                    return CatchUpOutcome(answered: [], periodic: false, cancelled: true)
                }
            }
        }
        guard state.lastCatchUp.duration(to: clock.now) >= settings.catchUpEvery else { return nil }
        // Those whose first query failed get it again; the others the usual window.
        let behind = state.subscribers.filter { state.uncaught.contains($0.run) }
        let current = state.subscribers.filter { !state.uncaught.contains($0.run) }
        state.catchingUp = true
        return { [self] in
            do {
                var answered = try await catchUp(hours: settings.firstCatchUpHours, subscribers: behind, seen: seen, resume: true, record: true).answered
                answered.formUnion(try await catchUp(hours: settings.catchUpHours, subscribers: current, seen: seen, resume: false, record: true).answered)
                return CatchUpOutcome(answered: answered, periodic: true, cancelled: false)
            } catch {
                return CatchUpOutcome(answered: [], periodic: true, cancelled: true)
            }
        }
    }

    /// Subscribes the relay to the shards no subscriber needed before.
    private func subscribeNewShards(_ state: inout State) async {
        let newShards = Set(state.subscribers.map(\.pubsubTopic)).subtracting(state.subscribed).sorted()
        guard !newShards.isEmpty else { return }
        await subscribe(newShards)
        state.subscribed.formUnion(newShards)
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
                    await route(message, pubsubTopic: shard, to: state.subscribers, seen: state.seen)
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
}

/// The chat IDs whose keys the database keeps, as far as this feed knows.
final class KeptChatKeys: Sendable {
    private let kept = Mutex<Set<String>>([])
    var chatIDs: Set<String> { kept.withLock { $0 } }
    func add<S: Sequence>(_ chatIDs: S) where S.Element == String { kept.withLock { $0.formUnion(chatIDs) } }
}
