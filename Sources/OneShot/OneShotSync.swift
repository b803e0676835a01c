import ArchiveImport
import ChannelNameFeed
import CodexClient
import Foundation
import HistoryStore
import Logging
import PeerHTTP
import StatusCrypto
import SyncEngine
import Synchronization
import StatusWire
import WakuClient

/// `sync --community <id>`: query the store for the archive channels' last 30 days, act on
/// the newest valid announcement after the quiet window, download and import, report.
///
/// ```swift
/// let sync = OneShotSync(options: options, waku: waku, codex: codex, database: database)
/// let report = try await sync.run { event in print(event) }
/// ```
public struct OneShotSync: Sendable {
    public struct Options: Sendable {
        public var communityID: CommunityID
        public var selection: ArchiveSelection
        public var quietWindow: Duration
        public var maxConcurrentDownloads: Int
        public var hydration: HydrationMode
        public var limits: DecodingLimits
        public var storeDays: Int
        /// The community's shard; store queries ask for it.
        public var pubsubTopic: String
        /// Sent as `peerAddr` when set; otherwise the nwaku node's own store peer is asked.
        public var storePeer: String?
        /// How many times a failed plan is retried (after the machine's backoff) before giving up.
        public var retries: Int
        /// How often a failed plan is retried by default.
        public static let defaultRetries = 2
        public var retryInitialDelay: Duration
        public var archivesDirectory: URL
        /// Fetch the newest index again even if it was processed, and plan every selected
        /// archive that is not in the database.
        public var rescan: Bool
        /// Put a digest of the community's whole history in the report. Off by default: it reads
        /// every row (25 s at 1,000,000 messages), work that grows with the history on every run.
        public var digest: Bool
        /// Threads that verify an archive's signatures (`ArchiveImportOptions.verificationWorkers`).
        public var verificationWorkers: Int = ArchiveImportOptions.defaultVerificationWorkers
        /// The member's hash-ratchet group keys, for encrypted messages in archives.
        public var keys: (any HashRatchetKeyring)?

        public init(communityID: CommunityID, selection: ArchiveSelection = .all, quietWindow: Duration = .seconds(20),
                    maxConcurrentDownloads: Int = 3, hydration: HydrationMode = .replace, limits: DecodingLimits = .default,
                    storeDays: Int = 30, pubsubTopic: String = WakuClient.defaultPubsubTopic, storePeer: String? = nil,
                    retries: Int = Options.defaultRetries, retryInitialDelay: Duration = .seconds(5), archivesDirectory: URL, rescan: Bool = false, digest: Bool = false) {
            self.rescan = rescan
            self.digest = digest
            self.storePeer = storePeer
            self.communityID = communityID
            self.selection = selection
            self.quietWindow = quietWindow
            self.maxConcurrentDownloads = maxConcurrentDownloads
            self.hydration = hydration
            self.limits = limits
            self.storeDays = storeDays
            self.pubsubTopic = pubsubTopic
            self.retries = retries
            self.retryInitialDelay = retryInitialDelay
            self.archivesDirectory = archivesDirectory
        }
    }

    public var options: Options
    public var waku: WakuClient
    public var codex: CodexClient
    public var database: HistoryDatabase
    public var logger: Logger

    public init(options: Options, waku: WakuClient, codex: CodexClient, database: HistoryDatabase,
                logger: Logger = Logger(label: "community-history.sync")) {
        self.options = options
        self.waku = waku
        self.codex = codex
        self.database = database
        self.logger = logger
    }

    public func run(onEvent: @escaping @Sendable (SyncEvent) -> Void = { _ in }) async throws -> SyncReport {
        let communityID = options.communityID
        let channel = ArchiveChannel(communityID: communityID)
        let collector = ReportCollector(SyncReport(communityID: communityID.string, selection: options.selection.description))

        // 1. The archive channels' history from the store (all pages), newest first, read by the
        // same feed the agent runs. A query that fails before anything came is the end; one that
        // fails later has the newest announcements (the ones that count) and lacks only older ones.
        var settings = AnnouncementFeed<ContinuousClock>.Settings()
        settings.storePeer = options.storePeer
        let feed = AnnouncementFeed(waku: waku, database: database, settings: settings, clock: ContinuousClock(), logger: logger)
        let heard = Mutex<[ArchiveAnnouncement]>([])
        let subscriber = FeedSubscriber(run: 0, communityID: communityID, pubsubTopic: options.pubsubTopic, channel: channel,
                                        deliver: { announcement in heard.withLock { $0.append(announcement) } },
                                        rejected: { reason in collector.ignored(reason.rawValue) })
        let caughtUp = try await feed.catchUp(hours: Double(options.storeDays) * 24, subscribers: [subscriber])
        if let failure = caughtUp.failure, caughtUp.received == 0 { throw failure }
        collector.scanned(caughtUp.received)
        let announcements = heard.withLock { $0 }

        // Encrypted messages that imported archives held for keys now held: stored first.
        // A failure is recorded and the sync goes on (the next run releases them).
        if let keys = options.keys {
            await HeldMessageRelease(database: database, keys: keys, communityID: communityID.string).runReporting(logger: logger) { event in
                collector.record(event)
                onEvent(event)
            }
        }

        // The channels' names, from the community's newest signed description (for display:
        // a failure is logged and the sync goes on).
        await ChannelNaming(communityID: communityID).refresh(
            from: waku, days: options.storeDays, pubsubTopic: options.pubsubTopic, peerAddr: options.storePeer,
            into: database, logger: logger)

        // 2. The machine decides; the driver acts.
        let configuration = CommunitySyncMachine.Configuration(
            communityID: communityID, selection: options.selection, quietWindow: options.quietWindow,
            maxConcurrentDownloads: options.maxConcurrentDownloads, retryInitialDelay: options.retryInitialDelay)
        let driver = CommunitySyncDriver(
            configuration: configuration, database: database, codex: codex, archivesDirectory: options.archivesDirectory,
            importOptions: ArchiveImportOptions(mode: options.hydration, limits: options.limits,
                                                verificationWorkers: options.verificationWorkers, keys: options.keys), logger: logger,
            onEvent: { event in
                collector.record(event)
                onEvent(event)
            })
        // Runs until the plan's outcome is known (retried `retries` times after backing off),
        // then is cancelled: that is stopping it.
        let (outcomes, post) = AsyncStream.makeStream(of: SyncOutcome.self)
        let rescan = options.rescan, retries = options.retries
        let initial = announcements.sorted { $0.clock < $1.clock }
        let outcome: SyncOutcome = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { post.finish() }  // a start that fails ends the wait below
                try await driver.run(initial: initial, rescan: rescan) { post.yield($0) }
            }
            var outcome = SyncOutcome.nothingToDo
            var attempts = 0
            for await next in outcomes {
                outcome = next
                // An index waiting for a key is not retried: nothing changes until keys are imported.
                if case .failed(let failure) = next, failure.cause != .waitingForKey, attempts < retries {
                    attempts += 1
                    continue
                }
                break
            }
            group.cancelAll()
            // A start that could not read the database ends the group with its error.
            try await group.waitForAll()
            return outcome
        }

        var report = collector.finish()
        switch outcome {
        case .completed(_, let imported, _): report.outcome = .completed(imported: imported)
        case .failed(let failure): report.outcome = .failed(cause: failure.cause, detail: failure.description)
        case .nothingToDo: report.outcome = announcements.isEmpty ? .noAnnouncement(days: options.storeDays) : .upToDate
        }
        report.database.messageCount = try database.messageCount(communityID: communityID.string)
        if options.digest {
            report.database.digest = try database.messageDigest(communityID: communityID.string)
        }
        report.performance.longestWriteLockSeconds = database.importWriteLockHolds.longest.inSeconds
        report.performance.peakResidentMiB = ProcessMemory.peakResidentMiB()
        report.performance.seconds = collector.elapsedSeconds
        return report
    }
}

/// Gathers events from the driver's tasks into one report (synchronously, in order).
final class ReportCollector: Sendable {
    private let report: Mutex<(report: SyncReport, performance: SyncPerformanceRecorder)>
    private let started = ContinuousClock.now

    init(_ report: SyncReport) { self.report = Mutex((report, SyncPerformanceRecorder())) }

    func record(_ event: SyncEvent) {
        let elapsed = ContinuousClock.now - started
        report.withLock {
            $0.report.record(event)
            $0.performance.record(event, at: elapsed)
        }
    }
    func ignored(_ reason: String) { report.withLock { $0.report.announcements.ignored[reason, default: 0] += 1 } }
    func scanned(_ count: Int) { report.withLock { $0.report.announcements.messagesScanned = count } }

    var elapsedSeconds: Double { (ContinuousClock.now - started).inSeconds }

    /// The report, with the per-archive timing recorded so far (`run` sets the totals last).
    func finish() -> SyncReport {
        report.withLock {
            var report = $0.report
            report.performance = $0.performance.performance
            return report
        }
    }
}
