import CodexClient
import Foundation
import GroupKeys
import HistoryStore
import Logging
import PeerHTTP
import ServiceLifecycle
import StatusCrypto
import Synchronization
import SyncEngine
import WakuClient

/// The long-running agent: the communities it follows, each synced by its own state machine,
/// with announcements from the Waku relay and periodic store catch-ups, and health and metrics
/// over HTTP. It is a group of services with one job each, run by swift-service-lifecycle:
///
/// - `CommunityRoster`: the followed communities (join, leave, rescan, reload), one driver each;
/// - `AnnouncementFeedService`: relay polls and store catch-ups, routed to the roster's communities;
/// - `HealthServer`: `/health` and `/metrics` (when `metricsPort` is set).
///
/// On SIGTERM/SIGINT (a graceful shutdown of the group that runs it) or when `run` is cancelled it
/// stops polling, cancels downloads, stops a running import unpublished (the next start redoes
/// it), and returns. `join`, `leave`, `rescan` and `reload` are requests to the roster's loop.
///
/// ```swift
/// let agent = try await HistoryAgent(configuration: config, events: EventLog(path: "events.jsonl"))
/// let group = ServiceGroup(services: [agent], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// // elsewhere, while it runs:
/// try await agent.join(.init(id: "0x02…", mode: "latest"))
/// ```
public final class HistoryAgent: Service, Sendable {
    public let configuration: AgentConfiguration
    public let metrics: AgentMetrics
    /// Every event, numbered, for the local API's event stream.
    public let hub: EventHub
    /// Set once the metrics server listens (for tests and logs).
    public let metricsPort = PortBox()
    let context: AgentContext
    let roster: CommunityRoster
    private let feed: AnnouncementFeedService
    /// Held for the agent's lifetime: no `sync` or second agent works on the same database.
    private let lock: SyncLock

    /// The delays before starting again a community whose sync cannot start (its state cannot be
    /// read, its archives directory cannot be made): 5 s, doubling, at most 10 minutes, for ever.
    public static let defaultStartRetry = RetryPolicy(maxAttempts: .max, initialDelay: .seconds(5), multiplier: 2, maxDelay: .seconds(600))

    public init(configuration: AgentConfiguration, events: EventLog = EventLog(), metrics: AgentMetrics = AgentMetrics(),
                logger: Logger = Logger(label: "community-history.agent"), startRetry: RetryPolicy = HistoryAgent.defaultStartRetry,
                hub: EventHub = EventHub(), onEvent: @escaping @Sendable (String, SyncEvent) -> Void = { _, _ in }) async throws {
        try configuration.validate()
        self.configuration = configuration
        self.metrics = metrics
        self.hub = hub
        events.mirror(to: hub)
        let databasePath = configuration.databasePath
        lock = try SyncLock(databasePath: databasePath, command: "agent")
        context = AgentContext(
            configuration: configuration,
            database: try HistoryDatabase(path: databasePath, busyTimeout: configuration.databaseBusyTimeoutSeconds ?? 10),
            waku: WakuClient(baseURL: URL(string: configuration.wakuURL ?? "http://127.0.0.1:8645")!),
            codex: CodexClient(baseURL: URL(string: configuration.storageNodeURL)!, apiPrefix: configuration.storageAPI,
                               minimumTransferRate: configuration.minimumTransferRate),
            keys: CurrentKeyring(), events: events, metrics: metrics, logger: logger)
        Self.loadKeys(context)
        let factory = FollowerFactory(context: context, onEvent: onEvent)
        let initial = await Self.initialFollowers(context, factory)
        let (subscribers, changes) = AsyncStream.makeStream(of: [FeedSubscriber].self, bufferingPolicy: .bufferingNewest(1))
        roster = CommunityRoster(context: context, factory: factory, initial: initial, startRetry: startRetry, subscribers: changes)
        feed = AnnouncementFeedService(context: context, shards: Set(initial.map(\.subscriber.pubsubTopic)).sorted(), subscribers: subscribers)
    }

    /// The history database the agent writes (the local API reads pages and writes local copies here).
    public var history: HistoryDatabase { context.database }
    /// The IDs of the group keys held (`keys import`, `POST /v1/keys`): identifiers, never key bytes.
    public var heldKeyIDs: [String] { context.keys.keyIDs.sorted() }

    public func run() async throws {
        var services: [any Service] = []
        if let port = configuration.metricsPort {
            services.append(HealthServer(port: port, portBox: metricsPort, logger: context.logger,
                                         health: { [self] in await health() }, metrics: { [self] in prometheusText() }))
        }
        // Stopped in reverse: the drivers first, then the feed, then the health endpoint.
        services += [feed, roster] as [any Service]
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [], logger: context.logger)
        context.events.write(.agentStarted(communities: roster.initialCommunities))
        defer {
            context.events.write(.agentStopped)
            hub.close()
            // Nothing of the agent writes any more: a `sync` or another agent may start.
            lock.release()
        }
        // The agent's own graceful shutdown (SIGTERM in the command's group) stops its group.
        try await cancelWhenGracefulShutdown { try await group.run() }
    }

    // MARK: Requests (the local API, SIGHUP)

    /// Follows `community` (persisted: a restart follows it again). Already followed through the
    /// API with other settings: restarts it with these. Throws `AgentControlError`.
    public func join(_ community: AgentConfiguration.Community) async throws(AgentControlError) -> JoinOutcome {
        try await roster.ask { .join(community, reply: $0) }
    }

    /// Stops following a community joined through the API and forgets it; with `purge`, also
    /// deletes its history once its sync has stopped. Returns the messages deleted.
    public func leave(_ communityID: CommunityID, purge: Bool) async throws(AgentControlError) -> Int {
        try await roster.ask { .leave(communityID, purge: purge, reply: $0) }
    }

    /// Restarts a community's sync forgetting which index was processed, and asks the store
    /// node for its announcements again: every selected archive not in the database is fetched.
    public func rescan(_ communityID: CommunityID) async throws(AgentControlError) {
        try await roster.ask { .rescan(communityID, reply: $0) }
    }

    /// Applies a configuration file read again (SIGHUP): starts, stops and restarts the
    /// file's communities as it says. Other changed settings are reported, not applied.
    public func reload(_ configuration: AgentConfiguration) async throws(AgentControlError) -> ReloadSummary {
        do { try configuration.validate() } catch { throw .invalid("\(error)") }
        return try await roster.ask { .reload(configuration, reply: $0) }
    }

    // MARK: What the API reads

    /// The followed communities, with how each is followed, its state and what the database holds.
    /// A community stopping to start again (a rescan, new settings) is listed, with state `restarting`.
    /// `only`: that community alone (its status is read, not every community's).
    public func followedCommunities(only: CommunityID? = nil) async throws -> [FollowedCommunityStatus] {
        try await followedCommunities(only: only, after: nil, limit: nil).communities
    }

    /// A page of the followed communities, in ID order: those after `after` (exclusive), at most
    /// `limit` (nil: all), with `next`, the `after` of the next page when there is one. Only the
    /// page's communities are read from the database.
    ///
    /// ```swift
    /// var page = try await agent.followedCommunities(after: nil, limit: 50)
    /// while let next = page.next { page = try await agent.followedCommunities(after: next, limit: 50) }
    /// ```
    ///
    /// Throws `DatabaseError` when the database cannot be read.
    public func followedCommunities(after: CommunityID?, limit: Int?) async throws -> FollowedCommunitiesPage {
        try await followedCommunities(only: nil, after: after, limit: limit)
    }

    private func followedCommunities(only: CommunityID?, after: CommunityID?, limit: Int?) async throws -> FollowedCommunitiesPage {
        let snapshot = roster.snapshot
        var all = (snapshot.followers.map { ($0, false) } + snapshot.restarting.map { ($0, true) })
            .filter { only == nil || $0.0.communityID == only }
            .filter { after == nil || $0.0.communityID.string > after!.string }
            .sorted { $0.0.communityID.string < $1.0.communityID.string }
        var next: CommunityID?
        if let limit, all.count > limit {
            all = Array(all.prefix(limit))
            next = all.last?.0.communityID
        }
        let statuses = try await context.database.communityStatuses(communityIDs: all.map(\.0.communityID.string))
        let communities = all.map { follower, isRestarting in
            FollowedCommunityStatus(communityID: follower.communityID.string, origin: follower.origin, settings: follower.settings,
                                    state: isRestarting ? "restarting" : metrics.state(of: follower.communityID.string) ?? "idle",
                                    history: statuses[follower.communityID.string])
        }
        return FollowedCommunitiesPage(communities: communities, next: next)
    }

    /// How many communities are followed (running or restarting), from memory.
    public var followedCount: Int {
        let snapshot = roster.snapshot
        return snapshot.followers.count + snapshot.restarting.count
    }

    /// Whether `communityID` is followed (running or restarting), from memory: no database read.
    public func isFollowed(_ communityID: CommunityID) -> Bool {
        let snapshot = roster.snapshot
        return snapshot.followers.contains { $0.communityID == communityID } || snapshot.restarting.contains { $0.communityID == communityID }
    }

    // MARK: Start

    /// The configuration file's communities, then those joined through the API (a row that no
    /// longer parses is logged and skipped: the API wrote it, from checked settings).
    private static func initialFollowers(_ context: AgentContext, _ factory: FollowerFactory) async -> [Follower] {
        let (configuration, logger) = (context.configuration, context.logger)
        var followers = configuration.communities.map { factory.make($0, origin: .configuration) }
        let joined: [FollowedCommunity]
        do { joined = try await context.database.followedCommunities() } catch {
            logger.error("cannot read the communities joined through the API; following the configuration's only", metadata: ["error": "\(error)"])
            return followers
        }
        for row in joined {
            do {
                let community = try JSONDecoder().decode(AgentConfiguration.Community.self, from: row.settings)
                let id = try configuration.validate(community)
                if followers.contains(where: { $0.communityID == id }) { continue }  // the file's settings win
                followers.append(factory.make(community, origin: .api))
            } catch {
                // Reported and skipped: a row written by an older release with a value now out
                // of range must not stop the agent at every start.
                logger.error("ignoring a joined community whose settings do not read", metadata: ["community": "\(row.communityID)", "error": "\(error)"])
                context.events.write(.communitySkipped(communityID: row.communityID, error: "\(error)"))
            }
        }
        return followers
    }
}

/// A port learnt after start.
public final class PortBox: Sendable {
    private let value = Mutex<Int?>(nil)
    public init() {}
    func set(_ port: Int) { value.withLock { $0 = port } }
    public var port: Int? { value.withLock { $0 } }
}
