import ArchiveImport
import CodexClient
import GroupKeys
import Foundation
import SyncEngine
import HistoryStore
import LocalHTTPServer
import Logging
import PeerHTTP
import ServiceLifecycle
import StatusCrypto
import StatusWire
import Synchronization
import WakuClient

/// The long-running agent: one state machine per community, live announcements from the
/// Waku relay, a periodic store catch-up (so a missed announcement is found again), health
/// and metrics over HTTP. Runs as a swift-service-lifecycle `Service`: on SIGTERM/SIGINT it
/// stops polling, cancels downloads, stops a running import unpublished (the next start redoes it), and returns.
///
/// What it follows can change while it runs: `join`, `leave`, `rescan` (the local API) and
/// `reload` (SIGHUP) are requests to the one loop that owns the set of followed communities;
/// each community's driver runs as a child task of that loop, and leaving stops it.
///
/// ```swift
/// let agent = try HistoryAgent(configuration: config, events: EventLog(path: "events.jsonl"))
/// let group = ServiceGroup(services: [agent], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// // elsewhere, while it runs:
/// try await agent.join(.init(id: "0x02…", mode: "latest"))
/// ```
public final class HistoryAgent: Service, Sendable {
    struct Follower: Sendable {
        let communityID: CommunityID
        let origin: CommunityOrigin
        let settings: AgentConfiguration.Community
        /// Tells this run of the community from an earlier one (after a leave and a join, a rescan).
        let generation: Int
        let channel: ArchiveChannel
        /// Reads the community's descriptions for its channels' names.
        let naming: ChannelNaming
        /// The shard the community publishes on: relayed and queried by this name.
        let pubsubTopic: String
        let driver: CommunitySyncDriver
        let archivesDirectory: URL
        /// Forget which index was processed when starting (a rescan).
        let rescan: Bool
        /// Announcements routed to this community, consumed by its driver's `run`.
        let announcements: AsyncStream<ArchiveAnnouncement>
        let feed: AsyncStream<ArchiveAnnouncement>.Continuation
        /// Finished to stop this community (leave, restart); the agent's stop cancels it instead.
        let stopSignal: AsyncStream<Void>
        let stop: AsyncStream<Void>.Continuation
    }

    public let configuration: AgentConfiguration
    public let metrics: AgentMetrics
    /// Every event, numbered, for the local API's event stream.
    public let hub: EventHub
    private let events: EventLog
    private let logger: Logger
    private let onEvent: @Sendable (String, SyncEvent) -> Void
    private let database: HistoryDatabase
    /// The group keys, shared by every community's sync and replaced when keys are imported.
    private let keys = CurrentKeyring()
    /// Held for the agent's lifetime: no `sync` or second agent works on the same database.
    private let lock: SyncLock
    private let waku: WakuClient
    private let codex: CodexClient
    private let archivesRoot: URL
    private let bandwidth: BandwidthLimiter?
    /// Downloads and imports at once across every community (issue 27): what the agent holds
    /// open stays flat as communities are added.
    private let budget = WorkBudget()
    /// One ledger for every community: their downloads share the disk.
    private let diskReservations = DiskReservations()
    /// What the loop last published for the poller and the API (`RoutingTable`).
    private let routing = Mutex(RoutingTable())
    private let generations = Atomic<Int>(0)
    private let mailbox: AsyncStream<AgentMail>
    private let post: AsyncStream<AgentMail>.Continuation
    private let seen = SeenMessages()
    private let resubscription = Throttle(every: .seconds(30))
    /// Set once the metrics server listens (for tests and logs).
    public let metricsPort = PortBox()
    /// The waits between attempts to start a community whose sync cannot start.
    private let startRetry: RetryPolicy

    /// The delays before starting again a community whose sync cannot start (its state cannot be
    /// read, its archives directory cannot be made): 5 s, doubling, at most 10 minutes, for ever.
    public static let defaultStartRetry = RetryPolicy(maxAttempts: .max, initialDelay: .seconds(5), multiplier: 2, maxDelay: .seconds(600))

    public init(configuration: AgentConfiguration, events: EventLog = EventLog(), metrics: AgentMetrics = AgentMetrics(),
                logger: Logger = Logger(label: "community-history.agent"), startRetry: RetryPolicy = HistoryAgent.defaultStartRetry,
                hub: EventHub = EventHub(), onEvent: @escaping @Sendable (String, SyncEvent) -> Void = { _, _ in }) throws {
        try configuration.validate()
        self.startRetry = startRetry
        self.configuration = configuration
        self.events = events
        self.metrics = metrics
        self.hub = hub
        self.logger = logger
        self.onEvent = onEvent
        events.mirror(to: hub)
        let databasePath = configuration.databasePath
        lock = try SyncLock(databasePath: databasePath, command: "agent")
        database = try HistoryDatabase(path: databasePath, busyTimeout: configuration.databaseBusyTimeoutSeconds ?? 10)
        waku = WakuClient(baseURL: URL(string: configuration.wakuURL ?? "http://127.0.0.1:8645")!)
        codex = CodexClient(baseURL: URL(string: configuration.storageNodeURL)!, apiPrefix: configuration.storageAPI,
                            minimumTransferRate: configuration.minimumTransferRate)
        archivesRoot = URL(fileURLWithPath: configuration.archivesDirectory ?? databasePath + ".archives")
        bandwidth = configuration.maxDownloadBytesPerSecond.map { BandwidthLimiter(bytesPerSecond: $0) }
        (mailbox, post) = AsyncStream.makeStream(of: AgentMail.self)
        reloadKeys()
        // Known from the start, so the API answers with them before `run` begins.
        var roster = Roster()
        for follower in initialFollowers() {
            metrics.register(follower.communityID.string)
            roster.active[follower.communityID] = follower
        }
        publishRouting(roster)
        initial.withLock { $0 = roster }
    }

    /// The communities to follow when `run` starts (set by `init`).
    private let initial = Mutex(Roster())

    /// The history database the agent writes (the local API reads pages and writes local copies here).
    public var history: HistoryDatabase { database }

    /// The loop's followers as others read them: the poller routes to `followers` and gives each
    /// of `uncaught` its 30-day store query; the API lists `followers` and `restarting`.
    struct RoutingTable: Sendable {
        var followers: [Follower] = []
        /// Communities (by follower generation) whose 30-day catch-up has not succeeded yet.
        var uncaught: Set<Int> = []
        /// Stopping to start again (rescan, new settings): shown, with state `restarting`.
        var restarting: [Follower] = []
    }

    /// The communities the loop follows now, by ID.
    private struct Roster: Sendable {
        var active: [CommunityID: Follower] = [:]
        /// What to do once a stopping follower (of that generation) has stopped.
        var afterStop: [CommunityID: (generation: Int, then: AfterStop)] = [:]
    }

    private enum AfterStop: Sendable {
        /// Leaving: once stopped, forget it (and purge); if that write fails, start `follower` again.
        case leave(purge: Bool, restore: Follower, reply: @Sendable (Result<Int, AgentControlError>) -> Void)
        case start(Follower)
        case nothing
    }

    public func run() async throws {
        let server = try await startMetricsServer()
        let initial = self.initial.withLock { $0 }
        events.write(["event": "agent.started", "communities": initial.active.keys.map(\.string).sorted()])
        let roster = (try? await cancelWhenGracefulShutdown { [self, initial] in await loop(initial) }) ?? initial
        post.finish()
        // Requests that arrived as the loop ended are answered, not left waiting.
        for await mail in mailbox { if case .command(let command) = mail { Self.refuse(command) } }
        // A leave cut short by the stop: nothing was forgotten (a restart follows it again).
        for (_, pending) in roster.afterStop { if case .leave(_, _, let reply) = pending.then { reply(.failure(.notRunning)) } }
        // No unsubscribe: the node's shard subscription may be the user's own (and a chat client's).
        await server?.stop()
        events.write(["event": "agent.stopped"])
        hub.close()
        // Nothing of the agent writes any more: a `sync` or another agent may start.
        lock.release()
    }

    /// One child per community runs its driver, one polls the node and routes what it hears to
    /// them; this loop owns the set of communities and answers requests to change it, until
    /// cancelled. Cancelling the group stops the drivers: downloads are cancelled and a running
    /// import stops unpublished (the next start redoes it). Returns the roster as it ended.
    private func loop(_ initial: Roster) async -> Roster {
        var roster = initial
        await withDiscardingTaskGroup { group in
            group.addTask { await self.poll() }
            for follower in roster.active.values {
                group.addTask { await self.follow(follower) }
            }
            for await mail in mailbox {
                await handle(mail, roster: &roster, group: &group)
            }
            logger.info("stopping: cancelling downloads and a running import (nothing of it is published)")
            group.cancelAll()
        }
        return roster
    }

    // MARK: Requests (the local API, SIGHUP)

    /// Follows `community` (persisted: a restart follows it again). Already followed through the
    /// API with other settings: restarts it with these. Throws `AgentControlError`.
    public func join(_ community: AgentConfiguration.Community) async throws(AgentControlError) -> JoinOutcome {
        try await ask { .join(community, reply: $0) }
    }

    /// Stops following a community joined through the API and forgets it; with `purge`, also
    /// deletes its history once its sync has stopped. Returns the messages deleted.
    public func leave(_ communityID: CommunityID, purge: Bool) async throws(AgentControlError) -> Int {
        try await ask { .leave(communityID, purge: purge, reply: $0) }
    }

    /// Restarts a community's sync forgetting which index was processed, and asks the store
    /// node for its announcements again: every selected archive not in the database is fetched.
    public func rescan(_ communityID: CommunityID) async throws(AgentControlError) {
        try await ask { .rescan(communityID, reply: $0) }
    }

    /// Applies a configuration file read again (SIGHUP): starts, stops and restarts the
    /// file's communities as it says. Other changed settings are reported, not applied.
    public func reload(_ configuration: AgentConfiguration) async throws(AgentControlError) -> ReloadSummary {
        do { try configuration.validate() } catch { throw .invalid("\(error)") }
        return try await ask { .reload(configuration, reply: $0) }
    }

    /// What `importKeys` did.
    public struct KeysImport: Sendable, Equatable {
        public var added: Int
        /// Keys already held.
        public var known: Int
        /// Encrypted messages imported archives held for these keys, stored now.
        public var messagesReleased: Int
        /// The communities restarted because something of theirs waited for a key.
        public var resumed: [CommunityID]
    }

    /// Adds group keys (from the chat client) to `<database>.keys`, puts them in the ring every
    /// sync reads, and restarts the sync of each followed community with an index or archive
    /// waiting for a key now held: its index is read again and a waiting archive's kept download
    /// is imported (not downloaded again). A community already restarting starts with the keys.
    /// Keys are never logged, nor put in events.
    public func importKeys(_ keys: [GroupKey]) async throws(AgentControlError) -> KeysImport {
        let counts: (added: Int, known: Int)
        do { counts = try GroupKeyStore(path: configuration.databasePath + ".keys").add(keys) } catch { throw .keyStore("\(error)") }
        reloadKeys()
        // Encrypted messages imported archives held for these keys: stored now.
        let released: HeldMessageRelease.Result
        do { released = try await HeldMessageRelease(database: database, keys: self.keys).run() } catch { throw .database("\(error)") }
        if released.archives > 0 {
            events.write(["event": "messages.released", "archives": released.archives, "stored": released.stored, "replaced": released.replaced])
        }
        // Whatever was added: a request retried after a failure here resumes them too.
        let waits: [KeyWait]
        do { waits = try await database.keyWaits() } catch { throw .database("\(error)") }
        let unblocked = Set(waits.filter { wait in (try? Hex.decode(wait.keyID)).map(self.keys.holds(keyID:)) ?? false }.map(\.communityID))
        let (followed, restarting) = routing.withLock { ($0.followers.map(\.communityID), $0.restarting.map(\.communityID)) }
        var resumed = restarting.filter { unblocked.contains($0.string) }
        for id in followed where unblocked.contains(id.string) && !resumed.contains(id) {
            do { try await rescan(id) } catch {
                // Stopping to start again already: it starts with the keys.
                guard case .busy = error else { throw error }
            }
            resumed.append(id)
        }
        events.write(["event": "keys.imported", "added": counts.added, "known": counts.known, "resumed": resumed.map(\.string)])
        logger.info("group keys imported", metadata: ["added": "\(counts.added)", "known": "\(counts.known)", "resumed": "\(resumed.count)"])
        return KeysImport(added: counts.added, known: counts.known, messagesReleased: released.stored + released.replaced, resumed: resumed)
    }

    private func ask<T: Sendable>(_ command: (@escaping @Sendable (Result<T, AgentControlError>) -> Void) -> AgentCommand) async throws(AgentControlError) -> T {
        let result: Result<T, AgentControlError> = await withCheckedContinuation { continuation in
            let answered = Atomic<Bool>(false)
            let reply: @Sendable (Result<T, AgentControlError>) -> Void = { result in
                if answered.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged { continuation.resume(returning: result) }
            }
            if case .terminated = post.yield(.command(command(reply))) { reply(.failure(.notRunning)) }
        }
        return try result.get()
    }

    private static func refuse(_ command: AgentCommand) {
        switch command {
        case .join(_, let reply): reply(.failure(.notRunning))
        case .leave(_, _, let reply): reply(.failure(.notRunning))
        case .rescan(_, let reply): reply(.failure(.notRunning))
        case .reload(_, let reply): reply(.failure(.notRunning))
        }
    }

    private func handle(_ mail: AgentMail, roster: inout Roster, group: inout DiscardingTaskGroup) async {
        switch mail {
        case .command(.join(let community, let reply)):
            reply(await join(community, roster: &roster, group: &group))
        case .command(.leave(let id, let purge, let reply)):
            guard let follower = roster.active[id] else {
                return reply(.failure(roster.afterStop[id] != nil ? .busy(id.string) : .notFollowed(id.string)))
            }
            guard follower.origin == .api else { return reply(.failure(.setInConfiguration(id.string))) }
            // Forgotten (and purged) once its sync has stopped, in one transaction: if the agent
            // stops first, nothing changed, and the next start follows it again.
            stop(follower, then: .leave(purge: purge, restore: makeFollower(follower.settings, origin: .api), reply: reply), roster: &roster)
        case .command(.rescan(let id, let reply)):
            guard let follower = roster.active[id] else { return reply(.failure(roster.afterStop[id] != nil ? .busy(id.string) : .notFollowed(id.string))) }
            stop(follower, then: .start(makeFollower(follower.settings, origin: follower.origin, rescan: true)), roster: &roster)
            reply(.success(()))
        case .command(.reload(let configuration, let reply)):
            reply(.success(reload(configuration, roster: &roster, group: &group)))
        case .followerStopped(let id, let generation):
            guard let pending = roster.afterStop[id], pending.generation == generation else { return }
            roster.afterStop[id] = nil
            switch pending.then {
            case .nothing:
                metrics.unregister(id.string)
            case .start(let follower):
                start(follower, roster: &roster, group: &group)
            case .leave(let purge, let restore, let reply):
                let result = await finishLeaving(id, purge: purge)
                if case .failure = result {
                    start(restore, roster: &roster, group: &group)  // as before the request: a retry can work
                } else {
                    metrics.unregister(id.string)
                }
                reply(result)
            }
        }
    }

    private func join(_ community: AgentConfiguration.Community, roster: inout Roster,
                      group: inout DiscardingTaskGroup) async -> Result<JoinOutcome, AgentControlError> {
        let id: CommunityID
        do { id = try configuration.validate(community) } catch { return .failure(.invalid("\(error)")) }
        var community = community
        community.id = id.string  // one spelling, whatever case the client sent
        if roster.afterStop[id] != nil { return .failure(.busy(id.string)) }
        // The bandwidth cap is shared by every download: with this community's, each must still
        // be able to keep the minimum rate.
        var everyone = roster.active.values.filter { $0.communityID != id }.map(\.settings)
        everyone.append(community)
        var combined = configuration
        combined.communities = everyone
        do { try combined.validateBandwidth() } catch { return .failure(.invalid("\(error)")) }
        if let current = roster.active[id] {
            guard current.origin == .api else { return .failure(.setInConfiguration(id.string)) }
            if current.settings == community { return .success(.unchanged) }
        }
        do {
            let settings = try JSONEncoder().encode(community)
            try await database.follow(FollowedCommunity(communityID: id.string, settings: settings, joinedAt: Int64(Date().timeIntervalSince1970 * 1000)))
        } catch {
            return .failure(.database("\(error)"))
        }
        let follower = makeFollower(community, origin: .api)
        if let current = roster.active[id] {
            stop(current, then: .start(follower), roster: &roster)
            return .success(.updated)
        }
        start(follower, roster: &roster, group: &group)
        events.write(["event": "community.joined", "community": id.string])
        return .success(.joined)
    }

    private func finishLeaving(_ id: CommunityID, purge: Bool) async -> Result<Int, AgentControlError> {
        let deleted: Int
        do { deleted = try await database.unfollow(communityID: id.string, purge: purge) } catch {
            return .failure(.database("\(error)"))
        }
        if purge {
            let directory = archivesDirectory(of: id)
            if FileManager.default.fileExists(atPath: directory.path) {
                do { try FileManager.default.removeItem(at: directory) } catch {
                    // The history is gone. The files stay until the community is joined again
                    // (its sync's start sweeps the directory) or removed by hand: said here.
                    logger.error("cannot remove the left community's downloads", metadata: ["directory": "\(directory.path)", "error": "\(error)"])
                }
            }
        }
        events.write(["event": "community.left", "community": id.string, "purged": purge, "messagesDeleted": deleted])
        return .success(deleted)
    }

    private func reload(_ new: AgentConfiguration, roster: inout Roster, group: inout DiscardingTaskGroup) -> ReloadSummary {
        var summary = ReloadSummary()
        summary.needRestart = Self.settingsNeedingRestart(from: configuration, to: new)
        var wanted: [CommunityID: AgentConfiguration.Community] = [:]
        for community in new.communities { if let id = try? community.communityID() { wanted[id] = community } }  // validated already
        for (id, follower) in roster.active where follower.origin == .configuration && wanted[id] == nil {
            stop(follower, then: .nothing, roster: &roster)
            summary.stopped.append(id.string)
        }
        // The file's communities waiting to start again (a rescan, an earlier reload) start as the file says now, or not at all.
        for (id, pending) in roster.afterStop {
            guard case .start(let next) = pending.then, next.origin == .configuration else { continue }
            if let community = wanted[id] {
                if next.settings != community {
                    roster.afterStop[id] = (pending.generation, .start(makeFollower(community, origin: .configuration, rescan: next.rescan)))
                    summary.restarted.append(id.string)
                }
            } else {
                roster.afterStop[id] = (pending.generation, .nothing)
                summary.stopped.append(id.string)
            }
        }
        for (id, community) in wanted.sorted(by: { $0.key.string < $1.key.string }) {
            if let current = roster.active[id] {
                if current.origin == .configuration && current.settings != community {
                    stop(current, then: .start(makeFollower(community, origin: .configuration)), roster: &roster)
                    summary.restarted.append(id.string)
                }
                // Joined through the API and now in the file too: it goes on as it is.
            } else if let pending = roster.afterStop[id] {
                // Stopped by an earlier reload and back in the file: start it once stopped.
                if case .nothing = pending.then {
                    roster.afterStop[id] = (pending.generation, .start(makeFollower(community, origin: .configuration)))
                    summary.started.append(id.string)
                }
            } else {
                start(makeFollower(community, origin: .configuration), roster: &roster, group: &group)
                summary.started.append(id.string)
            }
        }
        publishRouting(roster)
        summary.stopped.sort()
        summary.restarted.sort()
        return summary
    }

    /// The top-level settings that differ between two configurations, `communities` aside: the
    /// agent applies those only when it starts.
    static func settingsNeedingRestart(from old: AgentConfiguration, to new: AgentConfiguration) -> [String] {
        func settings(_ configuration: AgentConfiguration) -> [String: String] {
            var copy = configuration
            copy.communities = []
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            guard let data = try? encoder.encode(copy), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
            return object.mapValues { "\($0)" }
        }
        let (before, after) = (settings(old), settings(new))
        return Set(before.keys).union(after.keys).filter { $0 != "communities" && before[$0] != after[$0] }.sorted()
    }

    // MARK: The followers

    /// The configuration file's communities, then those joined through the API (a row that no
    /// longer parses is logged and skipped: the API wrote it, from checked settings).
    private func initialFollowers() -> [Follower] {
        var followers = configuration.communities.map { makeFollower($0, origin: .configuration) }
        let joined: [FollowedCommunity]
        do { joined = try database.followedCommunities() } catch {
            logger.error("cannot read the communities joined through the API; following the configuration's only", metadata: ["error": "\(error)"])
            return followers
        }
        for row in joined {
            do {
                let community = try JSONDecoder().decode(AgentConfiguration.Community.self, from: row.settings)
                let id = try configuration.validate(community)
                if followers.contains(where: { $0.communityID == id }) { continue }  // the file's settings win
                followers.append(makeFollower(community, origin: .api))
            } catch {
                // Reported and skipped: a row written by an older release with a value now out
                // of range must not stop the agent at every start.
                logger.error("ignoring a joined community whose settings do not read", metadata: ["community": "\(row.communityID)", "error": "\(error)"])
                events.write(["event": "community.skipped", "community": row.communityID, "error": "\(error)"])
            }
        }
        return followers
    }

    /// Reads the group keys stored beside the database (`keys import`, `POST /v1/keys`) into
    /// the ring every community's sync holds: a sync running, or started later, opens what they
    /// open. Archives imported before a key arrived keep its messages unread: re-reading them is
    /// not built yet (issue 12). A store that does not read is logged and reported as a
    /// `keys.unreadable` event (its path and error, never key bytes); the ring stays as it was.
    private func reloadKeys() {
        let path = configuration.databasePath + ".keys"
        do {
            keys.replace(with: GroupKeyRing(try GroupKeyStore(path: path).load()))
        } catch {
            logger.error("cannot read the group keys; encrypted messages stay unread", metadata: ["path": "\(path)", "error": "\(error)"])
            events.write(["event": "keys.unreadable", "path": path, "error": "\(error)"])
        }
    }

    private func archivesDirectory(of id: CommunityID) -> URL {
        archivesRoot.appendingPathComponent(String(id.string.prefix(18)))
    }

    /// A follower for checked settings (`validate(_:)` passed).
    private func makeFollower(_ community: AgentConfiguration.Community, origin: CommunityOrigin, rescan: Bool = false) -> Follower {
        // Checked before: a failure here is a programming error.
        let communityID = try! community.communityID()
        let label = communityID.string
        let machine = CommunitySyncMachine.Configuration(
            communityID: communityID, selection: try! community.selection(),
            quietWindow: SecondsSetting.duration(community.settleSeconds ?? 20),  // in range: validate(_:) passed
            maxConcurrentDownloads: community.concurrency ?? 3)
        let directory = archivesDirectory(of: communityID)
        let driver = CommunitySyncDriver(
            configuration: machine, database: database, codex: codex, archivesDirectory: directory,
            importOptions: ArchiveImportOptions(mode: community.hydration ?? .replace, keys: keys),
            diskMarginBytes: configuration.diskMarginBytes ?? 100 << 20, diskReservations: diskReservations, bandwidth: bandwidth,
            budget: budget, logger: logger,
            onEvent: { [metrics, events, onEvent] event in
                metrics.record(event, community: label)
                events.write(event, community: label)
                onEvent(label, event)
            })
        let (announcements, feed) = AsyncStream.makeStream(of: ArchiveAnnouncement.self)
        let (stopSignal, stop) = AsyncStream.makeStream(of: Void.self)
        return Follower(communityID: communityID, origin: origin, settings: community,
                        generation: generations.add(1, ordering: .relaxed).newValue,
                        channel: try! ArchiveChannel(communityID: communityID), naming: try! ChannelNaming(communityID: communityID),
                        pubsubTopic: configuration.pubsubTopic(of: community),
                        driver: driver, archivesDirectory: directory, rescan: rescan,
                        announcements: announcements, feed: feed, stopSignal: stopSignal, stop: stop)
    }

    private func start(_ follower: Follower, roster: inout Roster, group: inout DiscardingTaskGroup) {
        metrics.register(follower.communityID.string)
        roster.active[follower.communityID] = follower
        publishRouting(roster)
        group.addTask { await self.follow(follower) }
    }

    private func stop(_ follower: Follower, then: AfterStop, roster: inout Roster) {
        roster.active[follower.communityID] = nil
        roster.afterStop[follower.communityID] = (follower.generation, then)
        publishRouting(roster)
        follower.feed.finish()
        follower.stop.finish()
    }

    /// Hands the poller and the API the loop's followers. A follower the poller has not seen
    /// (new, joined, restarted) gets its 30-day store catch-up at the poller's next turn.
    private func publishRouting(_ roster: Roster) {
        let followers = roster.active.values.sorted { $0.communityID.string < $1.communityID.string }
        let restarting = roster.afterStop.values.compactMap { pending -> Follower? in
            if case .start(let next) = pending.then { return next }
            return nil
        }.sorted { $0.communityID.string < $1.communityID.string }
        routing.withLock { table in
            let known = Set(table.followers.map(\.generation))
            let current = Set(followers.map(\.generation))
            table.uncaught = table.uncaught.intersection(current).union(current.subtracting(known))
            table.followers = followers
            table.restarting = restarting
        }
    }

    /// Runs one community until it is stopped (leave, restart) or the agent stops, then tells the loop.
    private func follow(_ follower: Follower) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.runDriver(follower) }
            group.addTask { for await _ in follower.stopSignal {} }
            await group.next()
            group.cancelAll()
        }
        post.yield(.followerStopped(follower.communityID, generation: follower.generation))
    }

    /// Runs one community's driver until the agent stops. A driver that cannot start (its state
    /// cannot be read, its archives directory cannot be made) is started again after a growing
    /// delay: the other communities go on, and this one resumes once the cause is fixed, without
    /// restarting the agent. Announcements heard meanwhile wait in its stream.
    private func runDriver(_ follower: Follower) async {
        let label = follower.communityID.string
        var attempt = 0
        let rescan = follower.rescan
        while !Task.isCancelled {
            do {
                try await follower.driver.run(live: follower.announcements, rescan: rescan)
                return  // cancelled: the agent is stopping, or the community is
            } catch {
                if Task.isCancelled { return }
                attempt += 1
                let delay = startRetry.delay(afterAttempt: attempt)
                logger.error("cannot start the community's sync; trying again", metadata: [
                    "community": "\(label)", "error": "\(error)", "attempt": "\(attempt)", "retryIn": "\(delay)"])
                metrics.startFailed(community: label)
                events.write(["event": "community.start-failed", "community": label, "error": "\(error)", "attempt": attempt,
                              "retryInSeconds": delay.inSeconds])
                await recordStartFailure(of: label, error)
                do { try await Task.sleep(for: delay) } catch { return }
            }
        }
    }

    /// Shows the start failure as the community's error in `status` (the database may be what
    /// fails: then the log and the metric are what is left).
    private func recordStartFailure(of communityID: String, _ error: any Error) async {
        do { try await database.recordOutcome(communityID: communityID, error: "cannot start: \(error)") } catch {
            logger.error("cannot record the start failure", metadata: ["community": "\(communityID)", "error": "\(error)"])
            metrics.recordFailed(community: communityID)
        }
    }

    /// Relay polls and store catch-ups until cancelled (the agent stops). Each turn reads the
    /// followers the loop published: a shard seen for the first time is subscribed to, and a
    /// community not caught up yet (new, joined, rescanned) gets its 30-day store query first.
    private func poll() async {
        await reportMisconfiguration(Set(routing.withLock { $0.followers }.map(\.pubsubTopic)).sorted())
        var subscribed: Set<String> = []
        var lastCatchUp = ContinuousClock.now
        let catchUpEvery = SecondsSetting.duration(configuration.storeCatchUpSeconds ?? 300)
        let pollEvery = SecondsSetting.duration(configuration.relayPollSeconds ?? 2)
        // Communities whose 30-day query was tried at once (joined, started): a failed one is
        // asked again at the periodic catch-up's pace, not at every poll.
        var tried: Set<Int> = []
        while !Task.isCancelled {
            // One look at the table: the followers and those of them not caught up yet agree.
            let (followers, uncaught) = routing.withLock { ($0.followers, $0.uncaught) }
            let shards = Set(followers.map(\.pubsubTopic)).sorted()
            let newShards = shards.filter { !subscribed.contains($0) }
            if !newShards.isEmpty {
                await subscribe(newShards)
                subscribed.formUnion(newShards)
            }
            let fresh = followers.filter { uncaught.contains($0.generation) && !tried.contains($0.generation) }
            if !fresh.isEmpty {
                tried.formUnion(fresh.map(\.generation))
                let caughtUp = await catchUp(hours: 24 * 30, followers: fresh)
                routing.withLock { $0.uncaught.subtract(caughtUp) }
                // Channel names: the newest description in the store; later ones come by relay.
                for follower in fresh {
                    await follower.naming.refresh(from: waku, days: 30, pubsubTopic: follower.pubsubTopic,
                                                  peerAddr: configuration.storePeer, into: database,
                                                  logger: logger.with(community: follower.communityID))
                }
            }
            await pollRelay(shards, followers: followers)
            if ContinuousClock.now - lastCatchUp >= catchUpEvery {
                // Those whose 30-day query failed get it again; the others the usual window.
                let behind = followers.filter { uncaught.contains($0.generation) }
                let caughtUp = await catchUp(hours: 24 * 30, followers: behind)
                routing.withLock { $0.uncaught.subtract(caughtUp) }
                let current = followers.filter { !uncaught.contains($0.generation) }
                await catchUp(hours: configuration.catchUpHours ?? 24, followers: current)
                // Names again too (a small page each): renames the relay missed while it was down.
                for follower in current {
                    await follower.naming.refresh(from: waku, days: 30, pubsubTopic: follower.pubsubTopic,
                                                  peerAddr: configuration.storePeer, into: database,
                                                  logger: logger.with(community: follower.communityID))
                }
                lastCatchUp = .now
            }
            do { try await Task.sleep(for: pollEvery) } catch { return }
        }
    }

    private func startMetricsServer() async throws -> LoopbackHTTPServer? {
        guard let port = configuration.metricsPort else { return nil }
        let server = try await LoopbackHTTPServer.start(port: port) { [self] request in
            switch (request.method, request.pathSegments) {
            case ("GET", ["health"]), ("GET", ["healthz"]):
                let health = await health()
                do {
                    return LoopbackResponse(status: health.status == .ok ? 200 : 503, contentType: "application/json",
                                            body: .data(try JSONEncoder().encode(health)))
                } catch {
                    return .text("cannot encode the health report: \(error)", status: 500)
                }
            case ("GET", ["metrics"]):
                return LoopbackResponse(status: 200, contentType: "text/plain; version=0.0.4", body: .data(Data(prometheusText().utf8)))
            default:
                return .text("not found (try /health or /metrics)", status: 404)
            }
        }
        metricsPort.set(server.port)
        logger.info("health and metrics on http://127.0.0.1:\(server.port)/metrics")
        return server
    }

    /// The metrics of every followed community, and the agent's own (Prometheus text 0.0.4).
    public func prometheusText() -> String {
        metrics.prometheusText()
            + "# HELP community_history_event_write_failures_total Events that could not be written to the events file.\n"
            + "# TYPE community_history_event_write_failures_total counter\n"
            + "community_history_event_write_failures_total \(events.writeFailures)\n"
            + "# HELP community_history_staging_files_left_total Imports' scratch files that could not be deleted (the next start removes them).\n"
            + "# TYPE community_history_staging_files_left_total counter\n"
            + "community_history_staging_files_left_total \(database.stagingFilesLeftBehind)\n"
            + "# HELP community_history_import_write_lock_longest_seconds The longest an import held the database's write lock (what a chat client's write waited at most).\n"
            + "# TYPE community_history_import_write_lock_longest_seconds gauge\n"
            + "community_history_import_write_lock_longest_seconds \(database.importWriteLockHolds.longest.inSeconds)\n"
            + "# HELP community_history_event_stream_readers Readers of the local API's event stream.\n"
            + "# TYPE community_history_event_stream_readers gauge\n"
            + "community_history_event_stream_readers \(hub.readerCount)\n"
    }

    /// Whether the agent can do its work now: the Codex node and the nwaku node answer, and the
    /// database can be read. Asked each time (health is not a constant).
    public func health() async -> AgentHealth {
        let checks = PeerCheck(waku: waku, codex: codex, storePeer: configuration.storePeer)
        async let codexCheck = checks.codexReachable().result
        async let wakuCheck = checks.wakuHealth()
        var databaseCheck = CheckResult(name: "database readable", passed: true, detail: database.path)
        do { _ = try await database.followedCommunities() } catch {
            databaseCheck = CheckResult(name: "database readable", passed: false, detail: "\(error)", fix: "check \(database.path) and its disk")
        }
        return AgentHealth(checks: [await codexCheck, await wakuCheck, databaseCheck])
    }

    /// The followed communities, with how each is followed, its state and what the database holds.
    /// A community stopping to start again (a rescan, new settings) is listed, with state `restarting`.
    /// `only`: that community alone (its status is read, not every community's).
    public func followedCommunities(only: CommunityID? = nil) async throws -> [FollowedCommunityStatus] {
        let (running, restarting) = routing.withLock { ($0.followers, $0.restarting) }
        let all = (running.map { ($0, false) } + restarting.map { ($0, true) })
            .filter { only == nil || $0.0.communityID == only }
            .sorted { $0.0.communityID.string < $1.0.communityID.string }
        let statuses = try await database.communityStatuses(communityIDs: all.map(\.0.communityID.string))
        return all.map { follower, isRestarting in
            FollowedCommunityStatus(communityID: follower.communityID.string, origin: follower.origin, settings: follower.settings,
                                    state: isRestarting ? "restarting" : metrics.state(of: follower.communityID.string) ?? "idle",
                                    history: statuses[follower.communityID.string])
        }
    }

    /// Whether `communityID` is followed (running or restarting), from memory: no database read.
    public func isFollowed(_ communityID: CommunityID) -> Bool {
        routing.withLock { table in
            table.followers.contains { $0.communityID == communityID } || table.restarting.contains { $0.communityID == communityID }
        }
    }

    /// Subscribes the node's relay to the communities' shards (`POST /relay/v1/subscriptions`).
    private func subscribe(_ shards: [String]) async {
        do { try await waku.subscribe(pubsubTopics: shards) } catch {
            logger.warning("relay subscription failed; relying on store catch-up", metadata: [
                "error": "\(error)", "fix": "\(PeerCheck.relayFix(shards))",
            ])
        }
    }

    /// Reads each shard's relay cache and keeps what belongs to a followed archive channel.
    private func pollRelay(_ shards: [String], followers: [Follower]) async {
        var failed = false
        for shard in shards {
            do {
                for message in try await waku.relayMessages(pubsubTopic: shard) {
                    await route(message, pubsubTopic: shard, to: followers)
                }
            } catch {
                failed = true
            }
        }
        // A node that restarted has forgotten the subscription: subscribe again (at most every 30 s;
        // the store catch-up covers what was missed meanwhile).
        if failed, await resubscription.due() { await subscribe(shards) }
    }

    /// Store query over the archive channels of `followers` for the last `hours`, one per shard
    /// (the client splits the topics into groups the node accepts), newest first so that what
    /// came before a failure, which is used, holds the announcements that count.
    /// Returns the generations of the followers whose store query answered in full.
    @discardableResult
    func catchUp(hours: Double, followers: [Follower]) async -> Set<Int> {
        var answered: Set<Int> = []
        let end = Date()
        let byShard = Dictionary(grouping: followers, by: \.pubsubTopic)
        for (shard, group) in byShard.sorted(by: { $0.key < $1.key }) {
            let query = StoreQuery(pubsubTopic: shard, contentTopics: group.flatMap(\.channel.contentTopics),
                                   startTime: Int64((end.timeIntervalSince1970 - hours * 3600) * 1e9),
                                   endTime: Int64(end.timeIntervalSince1970 * 1e9), ascending: false, peerAddr: configuration.storePeer)
            let history: StoreHistory
            do { history = try await waku.storeAll(query) } catch { return answered }  // cancelled: stopping
            // Fetched newest first; handed over oldest first, as they were published, so older
            // announcements are not reported as ignored for being older than the newest.
            for item in history.messages.sorted(by: { ($0.message?.timestamp ?? 0) < ($1.message?.timestamp ?? 0) }) {
                guard let message = item.message else { continue }
                await route(message, pubsubTopic: item.pubsubTopic ?? shard, to: group)
            }
            if history.malformedMessages > 0 {
                logger.warning("store: skipped messages that did not decode", metadata: ["count": "\(history.malformedMessages)", "pubsubTopic": "\(shard)"])
            }
            if let failure = history.failure {
                var metadata: Logger.Metadata = ["error": "\(failure)", "pubsubTopic": "\(shard)", "received": "\(history.messages.count)"]
                if let fix = failure.fix { metadata["fix"] = "\(fix)" }
                logger.warning("store catch-up incomplete; will try again", metadata: metadata)
                events.write(["event": "store.failed", "reason": "\(failure)", "retryable": failure.isRetryable, "pubsubTopic": shard])
            } else {
                answered.formUnion(group.map(\.generation))
            }
        }
        return answered
    }

    /// Checks the peers once at start and logs each failing check with its fix: the agent still
    /// runs (a node may come up later), but the user learns what to change. (The relay is
    /// checked by subscribing, just after.)
    private func reportMisconfiguration(_ shards: [String]) async {
        let checks = PeerCheck(waku: waku, codex: codex, storePeer: configuration.storePeer)
        var results = await checks.codexChecks()
        for shard in shards { results += await checks.waku(pubsubTopic: shard, includeRelay: false) }
        for result in results where !result.passed {
            logger.warning("check failed: \(result.name)", metadata: ["detail": "\(result.detail)", "fix": "\(result.fix ?? "")"])
        }
    }

    /// Hands a message to the followers whose archive channel it is on (a shard carries every
    /// community's traffic; the rest is dropped here). Each run of a community (a generation)
    /// gets a message once, though relay and store both deliver it: a community joined again
    /// after leaving hears its announcements again.
    private func route(_ message: WakuMessage, pubsubTopic: String, to followers: [Follower]) async {
        let hash = message.hash(pubsubTopic: pubsubTopic)
        for follower in followers where follower.pubsubTopic == pubsubTopic && follower.naming.contentTopic == message.contentTopic {
            guard await seen.insert("\(follower.generation)/\(hash)") else { continue }
            let reading = follower.naming.read([message])
            if let names = reading.names {
                await follower.naming.record(names, into: database, logger: logger.with(community: follower.communityID))
            } else if reading.rejected[.notSignedByCommunity] != nil {
                logger.with(community: follower.communityID).warning("channel names: ignored a description not signed by the community")
            }
        }
        for follower in followers where follower.pubsubTopic == pubsubTopic && follower.channel.contentTopics.contains(message.contentTopic) {
            guard await seen.insert("\(follower.generation)/\(hash)") else { continue }
            switch follower.channel.decode(payload: [UInt8](message.payload), contentTopic: message.contentTopic) {
            case .announcement(let announcement):
                // The Codex-era message type number is unconfirmed: say which ones are seen.
                logger.info("archive link", metadata: ["community": "\(follower.communityID)", "ammType": "\(announcement.messageType)",
                                                      "clock": "\(announcement.clock)", "signer": "\(announcement.signerID)"])
                follower.feed.yield(announcement)
            case .rejected(let reason):
                metrics.rejectedAnnouncement(reason.rawValue, community: follower.communityID.string)
            }
        }
    }
}

/// What `health()` found: `ok` when every check passed, `degraded` otherwise (the agent goes on
/// and tries again; the failing check says what to fix).
public struct AgentHealth: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case ok, degraded }
    public var status: Status
    public var checks: [CheckResult]

    public init(checks: [CheckResult]) {
        self.checks = checks
        status = checks.allSatisfy(\.passed) ? .ok : .degraded
    }
}

/// Message hashes already handled (relay and store deliver the same messages).
actor SeenMessages {
    private var hashes: Set<String> = []
    private var order: [String] = []

    /// False when already seen. Keeps the newest 100,000.
    func insert(_ hash: String) -> Bool {
        guard hashes.insert(hash).inserted else { return false }
        order.append(hash)
        if order.count > 100_000 { hashes.remove(order.removeFirst()) }
        return true
    }
}

/// Says yes at most once per interval.
actor Throttle {
    private let interval: Duration
    private var last: ContinuousClock.Instant?

    init(every interval: Duration) { self.interval = interval }

    func due() -> Bool {
        let now = ContinuousClock.now
        if let last, now - last < interval { return false }
        last = now
        return true
    }
}

/// A port learnt after start.
public final class PortBox: Sendable {
    private let value = Mutex<Int?>(nil)
    public init() {}
    func set(_ port: Int) { value.withLock { $0 = port } }
    public var port: Int? { value.withLock { $0 } }
}

extension Logger {
    /// This logger with the community in every line's metadata.
    func with(community: CommunityID) -> Logger {
        var logger = self
        logger[metadataKey: "community"] = "\(community)"
        return logger
    }
}
