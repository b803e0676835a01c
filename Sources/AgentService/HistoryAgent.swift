import ArchiveImport
import CodexClient
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
/// ```swift
/// let agent = try HistoryAgent(configuration: config, events: EventLog(path: "events.jsonl"))
/// let group = ServiceGroup(services: [agent], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
public final class HistoryAgent: Service, Sendable {
    struct Follower: Sendable {
        let communityID: CommunityID
        let channel: ArchiveChannel
        /// The shard the community publishes on: relayed and queried by this name.
        let pubsubTopic: String
        let driver: CommunitySyncDriver
        /// Announcements routed to this community, consumed by its driver's `run`.
        let announcements: AsyncStream<ArchiveAnnouncement>
        let feed: AsyncStream<ArchiveAnnouncement>.Continuation
    }

    public let configuration: AgentConfiguration
    public let metrics: AgentMetrics
    private let events: EventLog
    private let logger: Logger
    private let onEvent: @Sendable (String, SyncEvent) -> Void
    private let database: HistoryDatabase
    /// Held for the agent's lifetime: no `sync` or second agent works on the same database.
    private let lock: SyncLock
    private let waku: WakuClient
    private let codex: CodexClient
    private let followers: [Follower]
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
                onEvent: @escaping @Sendable (String, SyncEvent) -> Void = { _, _ in }) throws {
        try configuration.validate()
        self.startRetry = startRetry
        self.configuration = configuration
        self.events = events
        self.metrics = metrics
        self.logger = logger
        self.onEvent = onEvent
        let databasePath = configuration.database ?? "history.sqlite"
        lock = try SyncLock(databasePath: databasePath, command: "agent")
        database = try HistoryDatabase(path: databasePath, busyTimeout: configuration.databaseBusyTimeoutSeconds ?? 10)
        waku = WakuClient(baseURL: URL(string: configuration.wakuURL ?? "http://127.0.0.1:8645")!)
        let codex = CodexClient(baseURL: URL(string: configuration.codexURL ?? "http://127.0.0.1:8080")!,
                                minimumTransferRate: configuration.minimumTransferRate)
        self.codex = codex
        let archives = URL(fileURLWithPath: configuration.archivesDirectory ?? databasePath + ".archives")
        let bandwidth = configuration.maxDownloadBytesPerSecond.map { BandwidthLimiter(bytesPerSecond: $0) }
        // One ledger for every community: their downloads share the disk.
        let diskReservations = DiskReservations()
        var followers: [Follower] = []
        for community in configuration.communities {
            let communityID = try community.communityID()
            let label = communityID.string
            let machine = CommunitySyncMachine.Configuration(
                communityID: communityID, selection: try community.selection(),
                quietWindow: .milliseconds(Int64((community.settleSeconds ?? 20) * 1000)),
                maxConcurrentDownloads: community.concurrency ?? 3)
            metrics.register(label)
            let driver = try CommunitySyncDriver(
                configuration: machine, database: database, codex: codex,
                archivesDirectory: archives.appendingPathComponent(String(label.prefix(18))),
                importOptions: ArchiveImportOptions(mode: community.hydration ?? .replace),
                diskMarginBytes: configuration.diskMarginBytes ?? 100 << 20, diskReservations: diskReservations, bandwidth: bandwidth,
                logger: logger,
                onEvent: { [metrics, events] event in
                    metrics.record(event, community: label)
                    events.write(event, community: label)
                    onEvent(label, event)
                })
            let (announcements, feed) = AsyncStream.makeStream(of: ArchiveAnnouncement.self)
            followers.append(Follower(communityID: communityID, channel: try ArchiveChannel(communityID: communityID),
                                      pubsubTopic: configuration.pubsubTopic(of: community), driver: driver,
                                      announcements: announcements, feed: feed))
        }
        self.followers = followers
    }

    public func run() async throws {
        let server = try await startMetricsServer()
        let shards = Array(Set(followers.map(\.pubsubTopic))).sorted()
        events.write(["event": "agent.started", "communities": followers.map(\.communityID.string)])
        // One child per community runs its driver; this task polls the node and routes what it
        // hears to them. Cancelling the group stops the drivers: downloads are cancelled and a
        // running import stops unpublished (the next start redoes it).
        await withDiscardingTaskGroup { group in
            for follower in followers {
                group.addTask { await self.follow(follower) }
            }
            await poll(shards)
            logger.info("stopping: cancelling downloads and a running import (nothing of it is published)")
            group.cancelAll()
        }
        // No unsubscribe: the node's shard subscription may be the user's own (and a chat client's).
        await server?.stop()
        events.write(["event": "agent.stopped"])
    }

    /// Runs one community's driver until the agent stops. A driver that cannot start (its state
    /// cannot be read, its archives directory cannot be made) is started again after a growing
    /// delay: the other communities go on, and this one resumes once the cause is fixed, without
    /// restarting the agent. Announcements heard meanwhile wait in its stream.
    private func follow(_ follower: Follower) async {
        let label = follower.communityID.string
        var attempt = 0
        while !Task.isCancelled {
            do {
                try await follower.driver.run(live: follower.announcements)
                return  // cancelled: the agent is stopping
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

    /// Relay polls and store catch-ups until the first graceful-shutdown signal (or cancellation).
    private func poll(_ shards: [String]) async {
        try? await cancelWhenGracefulShutdown { [self] in
            await reportMisconfiguration(shards)
            await subscribe(shards)
            await catchUp(hours: 24 * 30)
            var lastCatchUp = ContinuousClock.now
            let catchUpEvery = Duration.milliseconds(Int64((configuration.storeCatchUpSeconds ?? 300) * 1000))
            let pollEvery = Duration.milliseconds(Int64((configuration.relayPollSeconds ?? 2) * 1000))
            while !Task.isCancelled {
                await pollRelay(shards)
                if ContinuousClock.now - lastCatchUp >= catchUpEvery {
                    await catchUp(hours: configuration.catchUpHours ?? 24)
                    lastCatchUp = .now
                }
                try await Task.sleep(for: pollEvery)
            }
        }
    }

    private func startMetricsServer() async throws -> LoopbackHTTPServer? {
        guard let port = configuration.metricsPort else { return nil }
        let (metrics, events, database) = (self.metrics, self.events, self.database)
        let server = try await LoopbackHTTPServer.start(port: port) { request in
            switch (request.method, request.pathSegments) {
            case ("GET", ["health"]), ("GET", ["healthz"]):
                return .json(["status": "ok"])
            case ("GET", ["metrics"]):
                let text = metrics.prometheusText()
                    + "# HELP community_history_event_write_failures_total Events that could not be written to the events file.\n"
                    + "# TYPE community_history_event_write_failures_total counter\n"
                    + "community_history_event_write_failures_total \(events.writeFailures)\n"
                    + "# HELP community_history_staging_files_left_total Imports' scratch files that could not be deleted (the next start removes them).\n"
                    + "# TYPE community_history_staging_files_left_total counter\n"
                    + "community_history_staging_files_left_total \(database.stagingFilesLeftBehind)\n"
                    + "# HELP community_history_import_write_lock_longest_seconds The longest an import held the database's write lock (what a chat client's write waited at most).\n"
                    + "# TYPE community_history_import_write_lock_longest_seconds gauge\n"
                    + "community_history_import_write_lock_longest_seconds \(database.importWriteLockHolds.longest.inSeconds)\n"
                return LoopbackResponse(status: 200, contentType: "text/plain; version=0.0.4", body: .data(Data(text.utf8)))
            default:
                return .text("not found (try /health or /metrics)", status: 404)
            }
        }
        metricsPort.set(server.port)
        logger.info("health and metrics on http://127.0.0.1:\(server.port)/metrics")
        return server
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
    private func pollRelay(_ shards: [String]) async {
        var failed = false
        for shard in shards {
            do {
                for message in try await waku.relayMessages(pubsubTopic: shard) {
                    await route(message, pubsubTopic: shard)
                }
            } catch {
                failed = true
            }
        }
        // A node that restarted has forgotten the subscription: subscribe again (at most every 30 s;
        // the store catch-up covers what was missed meanwhile).
        if failed, await resubscription.due() { await subscribe(shards) }
    }

    /// Store query over every archive channel for the last `hours`, one per shard (the client
    /// splits the topics into groups the node accepts), newest first so that what came before a
    /// failure, which is used, holds the announcements that count.
    func catchUp(hours: Double) async {
        let end = Date()
        let byShard = Dictionary(grouping: followers, by: \.pubsubTopic)
        for (shard, group) in byShard.sorted(by: { $0.key < $1.key }) {
            let query = StoreQuery(pubsubTopic: shard, contentTopics: group.flatMap(\.channel.contentTopics),
                                   startTime: Int64((end.timeIntervalSince1970 - hours * 3600) * 1e9),
                                   endTime: Int64(end.timeIntervalSince1970 * 1e9), ascending: false, peerAddr: configuration.storePeer)
            let history: StoreHistory
            do { history = try await waku.storeAll(query) } catch { return }  // cancelled: stopping
            // Fetched newest first; handed over oldest first, as they were published, so older
            // announcements are not reported as ignored for being older than the newest.
            for item in history.messages.sorted(by: { ($0.message?.timestamp ?? 0) < ($1.message?.timestamp ?? 0) }) {
                guard let message = item.message else { continue }
                await route(message, pubsubTopic: item.pubsubTopic ?? shard)
            }
            if history.malformedMessages > 0 {
                logger.warning("store: skipped messages that did not decode", metadata: ["count": "\(history.malformedMessages)", "pubsubTopic": "\(shard)"])
            }
            if let failure = history.failure {
                var metadata: Logger.Metadata = ["error": "\(failure)", "pubsubTopic": "\(shard)", "received": "\(history.messages.count)"]
                if let fix = failure.fix { metadata["fix"] = "\(fix)" }
                logger.warning("store catch-up incomplete; will try again", metadata: metadata)
                events.write(["event": "store.failed", "reason": "\(failure)", "retryable": failure.isRetryable, "pubsubTopic": shard])
            }
        }
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

    /// Hands a message to the communities whose archive channel it is on (a shard carries every
    /// community's traffic; the rest is dropped here).
    private func route(_ message: WakuMessage, pubsubTopic: String) async {
        guard await seen.insert(message.hash(pubsubTopic: pubsubTopic)) else { return }
        for follower in followers where follower.pubsubTopic == pubsubTopic && follower.channel.contentTopics.contains(message.contentTopic) {
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
