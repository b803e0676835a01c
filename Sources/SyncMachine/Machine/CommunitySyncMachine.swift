import Backoff
import StatusCrypto
import StatusWire

/// The per-community sync logic as a pure value: each event returns the actions to perform;
/// timers, HTTP, SQLite and clocks live in the driver (`CommunitySyncDriver`). Every rule can
/// therefore be tested without network and without sleeping.
///
/// Rules:
/// - an announcement is accepted when signed by the community key, its clock is >= the stored
///   clock, and its CID is not the last fully processed one; the clock is persisted at once;
///   each accepted announcement re-arms the quiet window, except one re-announcing the index
///   being worked on, which lets that work go on;
/// - when the quiet window expires, the newest announcement's index is fetched and diffed
///   against what is imported, and the selection (all / latest / range) is planned newest first;
/// - archives download with bounded concurrency and are imported as soon as each is
///   downloaded, verified one at a time: the next archive's verification starts when the one
///   before is verified and being written (`importVerified`);
/// - a newer announcement during work cancels the downloads and re-plans after the quiet
///   window; an import already running completes (it commits all at once) and counts;
/// - the processed CID is persisted only when every planned archive is imported, with the
///   selection it was processed for: a later selection it does not cover (`all` after `latest`)
///   fetches the same index again;
/// - failures that may heal (`ArchiveFailureKind.isRetryable`) move to backoff and retry later,
///   never in a hot loop;
/// - an archive that failed verification is never downloaded again by this machine: its bytes
///   are what its CID names. When only such archives are left, the plan is complete
///   (`.completed` lists them as unimportable): nothing runs until a newer index, and a restart
///   fetches the index once more (an archive over a raised limit is then imported).
///
/// ```swift
/// var machine = CommunitySyncMachine(configuration: config, persisted: saved)
/// let actions = machine.announcementReceived(announcement)   // [.persistAnnouncement, .startTimer(.quietWindow, 20 s)]
/// ```
public struct CommunitySyncMachine: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// What `maxConcurrentDownloads` may be, wherever a user sets it (`sync --concurrency`,
        /// a community's `concurrency`).
        public static let concurrentDownloadsRange: ClosedRange<Int> = 1...64

        public let communityID: CommunityID
        public let selection: ArchiveSelection
        public let quietWindow: Duration
        public let maxConcurrentDownloads: Int
        public let retryInitialDelay: Duration
        public let retryMaxDelay: Duration
        /// The share of a retry's delay taken off at random (`Backoff.jitter`; 0 in tests that
        /// check the schedule itself).
        public let retryJitter: Double
        /// Seeds the machine's jitter: chosen at random unless a test fixes it (the machine
        /// itself draws nothing at random: it stays a function of its events).
        public let jitterSeed: UInt64
        /// A plan's failure budget: after this many downloads in a row failed in a way that may
        /// heal, the rest of the plan is not tried this time (it is retried after the backoff).
        /// An index of 100,000 CIDs no node has would otherwise take hours of lookups per plan.
        public let maxConsecutiveDownloadFailures: Int

        public init(communityID: CommunityID, selection: ArchiveSelection = .all, quietWindow: Duration = .seconds(20),
                    maxConcurrentDownloads: Int = 3, retryInitialDelay: Duration = .seconds(5), retryMaxDelay: Duration = .seconds(600),
                    retryJitter: Double = Backoff.defaultJitter, jitterSeed: UInt64 = .random(in: .min ... .max),
                    maxConsecutiveDownloadFailures: Int = 10) {
            self.retryJitter = retryJitter
            self.jitterSeed = jitterSeed
            self.maxConsecutiveDownloadFailures = max(1, maxConsecutiveDownloadFailures)
            self.communityID = communityID
            self.selection = selection
            self.quietWindow = quietWindow
            self.maxConcurrentDownloads = max(1, maxConcurrentDownloads)
            self.retryInitialDelay = retryInitialDelay
            self.retryMaxDelay = retryMaxDelay
        }
    }

    /// What survives a restart (read from the database by the driver).
    public struct Persisted: Sendable, Equatable {
        public var clock: UInt64
        public var indexCID: CID?
        public var processedIndexCID: CID?
        /// The selection `processedIndexCID` was processed for (nil: unknown, covers nothing).
        public var processedSelection: ArchiveSelection?
        public var imported: Set<ArchiveID>
        public var downloaded: [DownloadedArchive]
        /// Archives that failed verification, with the failure as recorded (`import: …`): not downloaded again.
        public var rejected: [ArchiveID: ArchiveFailure]

        public init(clock: UInt64 = 0, indexCID: CID? = nil, processedIndexCID: CID? = nil, processedSelection: ArchiveSelection? = nil,
                    imported: Set<ArchiveID> = [], downloaded: [DownloadedArchive] = [], rejected: [ArchiveID: ArchiveFailure] = [:]) {
            self.clock = clock
            self.indexCID = indexCID
            self.processedIndexCID = processedIndexCID
            self.processedSelection = processedSelection
            self.imported = imported
            self.downloaded = downloaded
            self.rejected = rejected
        }
    }

    /// Where the machine is, with what that step needs: the index it pursues, the plan being
    /// worked, the failure being backed off from. Nothing of one phase outlives it by accident.
    public enum Phase: Sendable, Equatable {
        /// Before `started()`: `resuming` is the persisted index not yet processed, fetched at start.
        case notStarted(resuming: CID?)
        /// Nothing to do until an announcement.
        case idle
        /// The quiet window runs after the newest accepted announcement, for `candidate`.
        case settling(candidate: CID)
        case fetchingIndex(Pursuit)
        /// Downloading and importing one index's plan.
        case working(Plan)
        /// Something that may heal failed (a peer, the database); the retry timer runs.
        case backoff(Pursuit, PlanFailure)
        /// Stopping (`stopRequested()`): nothing new starts; results that still arrive are ignored.
        case stopped
    }

    /// The index being pursued since its announcement, and how many of its plans failed in a
    /// row (the retry delay grows with them; a newer announcement starts again at zero).
    public struct Pursuit: Sendable, Equatable {
        public var indexCID: CID
        public var failedAttempts: Int
    }

    /// One plan: the archives of one index still to download and import.
    public struct Plan: Sendable, Equatable {
        public internal(set) var pursuit: Pursuit
        public internal(set) var pending: [ArchiveIndexEntry]
        public internal(set) var downloading: Set<ArchiveID> = []
        public internal(set) var importedCount = 0
        public internal(set) var failures: [ArchiveID: ArchiveFailure] = [:]
        /// Retryable download failures since the last download that worked (the failure budget).
        public internal(set) var downloadFailuresInARow = 0

        public var indexCID: CID { pursuit.indexCID }
    }

    public let configuration: Configuration
    public private(set) var phase: Phase
    public private(set) var storedClock: UInt64
    /// The newest index whose every importable archive is in (for `processedSelection`).
    public private(set) var processedIndexCID: CID?
    public private(set) var processedSelection: ArchiveSelection?
    public private(set) var imported: Set<ArchiveID>
    /// Counts plans (index fetches); a result of an older generation is stale.
    public private(set) var generation = 0
    /// Archives that failed verification, with the failure (`import: …`): not planned again.
    public private(set) var rejected: [ArchiveID: ArchiveFailure] = [:]
    /// Downloaded archives encrypted with a key the member does not hold, with the failure: not
    /// imported again in this run (keys arriving restart the community's sync).
    public private(set) var waitingForKey: [ArchiveID: ArchiveFailure] = [:]

    // The import lane is not part of a phase: an import publishes its archive all at once whatever
    // plan queued it (a newer announcement does not undo it), and a restart resumes imports
    // before any plan exists.

    /// Archives on disk awaiting import (they survive re-plans).
    private var downloaded: [ArchiveID: DownloadedArchive] = [:]
    /// Downloaded archives queued for import, in order (the current plan's, or resumed ones).
    private var importQueue: [ArchiveID] = []
    /// The archives being imported, whatever their generation, oldest first: at most
    /// `maxImportsRunning`, of which at most one (`verifying`) is still decoding and verifying.
    /// The next archive is verified while the one before is written (the database has one
    /// writer; its rows are written in chunks, with pauses for a chat client, which then cost
    /// no time), and never two at once: `verificationWorkers` stays the number of threads.
    private var importsRunning: [ArchiveID] = []
    private var verifying: ArchiveID?
    static let maxImportsRunning = 2
    /// Archives whose download failed in the last plan: the retry tries the others first, so a
    /// run of archives no node has cannot keep older ones from ever being tried.
    private var failedLastPlan: Set<ArchiveID> = []
    /// Draws each retry's jitter.
    private var jitter: JitterSource

    public init(configuration: Configuration, persisted: Persisted = Persisted()) {
        self.configuration = configuration
        jitter = JitterSource(seed: configuration.jitterSeed)
        storedClock = persisted.clock
        processedIndexCID = persisted.processedIndexCID
        processedSelection = persisted.processedSelection
        imported = persisted.imported
        rejected = persisted.rejected
        var resuming: CID?
        if let cid = persisted.indexCID, !Self.isProcessed(cid, processedIndexCID, processedSelection, for: configuration.selection) {
            resuming = cid
        }
        phase = .notStarted(resuming: resuming)
        for archive in persisted.downloaded where !persisted.imported.contains(archive.entry.id) {
            downloaded[archive.entry.id] = archive
        }
    }

    /// The newest accepted announcement's index, while it is not fully processed.
    public var candidate: CID? {
        switch phase {
        case .notStarted(let resuming): return resuming
        case .settling(let candidate): return candidate
        case .fetchingIndex(let pursuit), .backoff(let pursuit, _): return pursuit.indexCID
        case .working(let plan): return plan.indexCID
        case .idle, .stopped: return nil
        }
    }

    /// Plans of the candidate that failed in a row.
    public var failedAttempts: Int {
        switch phase {
        case .fetchingIndex(let pursuit), .backoff(let pursuit, _): return pursuit.failedAttempts
        case .working(let plan): return plan.pursuit.failedAttempts
        case .notStarted, .idle, .settling, .stopped: return 0
        }
    }

    /// Whether an import is running or queued.
    public var isImporting: Bool { !importsRunning.isEmpty || !importQueue.isEmpty }

    /// Whether nothing is planned, running or waiting for a timer: an outcome is not coming.
    public var isQuiescent: Bool { phase == .idle && !isImporting }

    // MARK: - Events

    /// Resume after a restart: import what was downloaded, then fetch what is missing.
    public mutating func started() -> [SyncAction] {
        guard case .notStarted(let resuming) = phase else { return [] }
        phase = .idle
        importQueue = downloaded.values.sorted { ($0.entry.from, $0.entry.id) > ($1.entry.from, $1.entry.id) }.map(\.entry.id)
        var actions = nextImport()
        if let resuming {
            actions += beginFetch(Pursuit(indexCID: resuming, failedAttempts: 0))
        }
        return actions
    }

    /// Stopping is an event like the others: the timer and the downloads are cancelled, and
    /// every later event is ignored. A running import is the driver's to cancel (nothing of it
    /// is published; the downloaded file stays recorded for the next start).
    public mutating func stopRequested() -> [SyncAction] {
        guard phase != .stopped else { return [] }
        phase = .stopped
        importQueue.removeAll()
        return [.cancelTimer, .cancelDownloads(generation: generation)]
    }

    public mutating func announcementReceived(_ announcement: ArchiveAnnouncement) -> [SyncAction] {
        guard phase != .stopped else { return [] }
        guard announcement.signerID == configuration.communityID else {
            return [.ignored(.notSignedByCommunity(signer: announcement.signerID.string))]
        }
        guard announcement.clock >= storedClock else {
            return [.ignored(.olderClock(clock: announcement.clock, stored: storedClock))]
        }
        let cid = announcement.indexCID
        if Self.isProcessed(cid, processedIndexCID, processedSelection, for: configuration.selection) {
            return [.ignored(.alreadyProcessed(cid: cid.string))]
        }
        storedClock = announcement.clock
        var actions: [SyncAction] = []
        switch phase {
        case .fetchingIndex(let pursuit) where pursuit.indexCID == cid:
            // The same index re-announced while it is being worked on: keep its newer clock, keep going.
            return [.persistAnnouncement(clock: storedClock, indexCID: cid)]
        case .working(let plan) where plan.indexCID == cid:
            return [.persistAnnouncement(clock: storedClock, indexCID: cid)]
        case .fetchingIndex, .working:
            actions.append(.cancelDownloads(generation: generation))
            importQueue.removeAll()
        case .notStarted, .idle, .settling, .backoff, .stopped:
            break
        }
        phase = .settling(candidate: cid)
        actions.append(.persistAnnouncement(clock: storedClock, indexCID: cid))
        actions.append(.startTimer(.quietWindow, after: configuration.quietWindow))
        return actions
    }

    public mutating func quietWindowElapsed() -> [SyncAction] {
        guard case .settling(let candidate) = phase else { return [] }
        return beginFetch(Pursuit(indexCID: candidate, failedAttempts: 0))
    }

    public mutating func retryDue() -> [SyncAction] {
        guard case .backoff(let pursuit, _) = phase else { return [] }
        return beginFetch(pursuit)
    }

    public mutating func indexFetched(_ entries: [ArchiveIndexEntry], generation: Int) -> [SyncAction] {
        guard generation == self.generation, case .fetchingIndex(let pursuit) = phase else { return [] }
        let inProgress = imported.union(importsRunning)
        let selected = ArchivePlanner.plan(entries, excluding: inProgress, selection: configuration.selection)
        var plan = Plan(pursuit: pursuit, pending: selected)
        // Archives that failed verification before count as failed again, without a download.
        let knownBad = selected.reduce(into: [ArchiveID: ArchiveFailure]()) { known, entry in known[entry.id] = rejected[entry.id] }
        for (id, failure) in knownBad { plan.failures[id] = failure }
        for entry in selected { if let failure = waitingForKey[entry.id] { plan.failures[entry.id] = failure } }
        // Archives already on disk go straight to the import queue (not those waiting for a key).
        importQueue = selected.filter { rejected[$0.id] == nil && waitingForKey[$0.id] == nil && downloaded[$0.id] != nil }.map(\.id)
        plan.pending.removeAll { rejected[$0.id] != nil || downloaded[$0.id] != nil }
        // Newest first, but what failed last time after what was not tried (stable).
        plan.pending = plan.pending.filter { !failedLastPlan.contains($0.id) } + plan.pending.filter { failedLastPlan.contains($0.id) }
        return [.planned(archives: selected.count, knownBad: knownBad)] + advance(plan)
    }

    /// The index could not be fetched or read. Always retried after a backoff: a node may come
    /// back, and a newer index may replace one that does not decode.
    /// An index encrypted with a key the member does not hold is not retried: the machine idles
    /// until an announcement (or a restart when keys are imported).
    public mutating func indexFailed(_ failure: ArchiveFailure, generation: Int) -> [SyncAction] {
        guard generation == self.generation, case .fetchingIndex(let pursuit) = phase else { return [] }
        if failure.kind == .waitingForKey {
            phase = .idle
            return [.finished(.failed(.index(pursuit.indexCID, failure)))]
        }
        return enterBackoff(pursuit, .index(pursuit.indexCID, failure))
    }

    public mutating func downloadFinished(_ archive: DownloadedArchive, generation: Int) -> [SyncAction] {
        guard phase != .stopped else { return [] }
        downloaded[archive.entry.id] = archive
        guard generation == self.generation, case .working(var plan) = phase else { return [] }
        plan.downloading.remove(archive.entry.id)
        plan.downloadFailuresInARow = 0
        importQueue.append(archive.entry.id)
        return advance(plan)
    }

    /// A download failed. Usually the node's fault and worth another try later; `.rejected`
    /// when no node can serve it in a form this agent can check (an erasure-coded dataset): it is
    /// then remembered like an archive that failed verification and not downloaded again.
    public mutating func downloadFailed(_ entry: ArchiveIndexEntry, _ failure: ArchiveFailure, generation: Int) -> [SyncAction] {
        guard generation == self.generation, case .working(var plan) = phase else { return [] }
        plan.downloading.remove(entry.id)
        plan.failures[entry.id] = failure
        if !failure.kind.isRetryable {
            rejected[entry.id] = failure
        } else {
            plan.downloadFailuresInARow += 1
            if plan.downloadFailuresInARow >= configuration.maxConsecutiveDownloadFailures {
                // The budget is spent: what is left waits for the retry, newest first again.
                let skipped = "not tried: the last \(plan.downloadFailuresInARow) downloads of this plan failed (\(failure.reason))"
                for entry in plan.pending { plan.failures[entry.id] = ArchiveFailure(failure.kind, skipped, attempted: false) }
                plan.pending.removeAll()
            }
        }
        return advance(plan)
    }

    /// An import has verified its archive and is writing it: the next may start verifying.
    public mutating func importVerified(_ archiveID: ArchiveID) -> [SyncAction] {
        guard phase != .stopped, verifying == archiveID else { return [] }
        verifying = nil
        return nextImport()
    }

    /// An import committed (whatever the generation: the archive is in the database).
    public mutating func importFinished(_ archiveID: ArchiveID) -> [SyncAction] {
        guard phase != .stopped else { return [] }
        imported.insert(archiveID)
        downloaded[archiveID] = nil
        importEnded(archiveID)
        guard case .working(var plan) = phase else { return nextImport() }
        plan.importedCount += 1
        return advance(plan)
    }

    /// An import failed; the rest of the plan goes on.
    /// What happens to the archive follows `failure.kind`: a database failure keeps the file for
    /// the retry; a file that is gone or damaged is downloaded again; rejected or over-limit
    /// archives are not tried again (in this run, for over-limit ones).
    public mutating func importFailed(_ archiveID: ArchiveID, _ failure: ArchiveFailure) -> [SyncAction] {
        guard phase != .stopped else { return [] }
        importEnded(archiveID)
        switch failure.kind {
        case .database, .localResources:
            // The file is kept for the retry.
            break
        case .waitingForKey:
            // The file stays (imported once the key comes); not imported again in this run.
            waitingForKey[archiveID] = failure
        case .rejected, .overLimit:
            downloaded[archiveID] = nil
            rejected[archiveID] = failure
        case .peerUnreachable, .download, .unreadableFile, .localDisk:
            downloaded[archiveID] = nil
        }
        guard case .working(var plan) = phase else { return nextImport() }
        plan.failures[archiveID] = failure
        return advance(plan)
    }

    // MARK: - Steps

    private mutating func beginFetch(_ pursuit: Pursuit) -> [SyncAction] {
        generation += 1
        phase = .fetchingIndex(pursuit)
        return [.fetchIndex(pursuit.indexCID, generation: generation)]
    }

    /// Starts what the plan allows (downloads up to the limit, the next import), then ends the
    /// plan if nothing of it is left; the phase holds the plan as it now is.
    private mutating func advance(_ plan: Plan) -> [SyncAction] {
        var plan = plan
        var actions: [SyncAction] = []
        while plan.downloading.count < configuration.maxConcurrentDownloads, !plan.pending.isEmpty {
            let entry = plan.pending.removeFirst()
            plan.downloading.insert(entry.id)
            actions.append(.download(entry, generation: generation))
        }
        phase = .working(plan)
        actions += nextImport()
        guard plan.pending.isEmpty, plan.downloading.isEmpty, importQueue.isEmpty, importsRunning.isEmpty else { return actions }
        return actions + complete(plan)
    }

    private mutating func nextImport() -> [SyncAction] {
        guard verifying == nil, importsRunning.count < Self.maxImportsRunning else { return [] }
        while !importQueue.isEmpty {
            let id = importQueue.removeFirst()
            guard !imported.contains(id), !importsRunning.contains(id), let archive = downloaded[id] else { continue }
            importsRunning.append(id)
            verifying = id
            return [.importArchive(archive, generation: generation)]
        }
        return []
    }

    private mutating func importEnded(_ archiveID: ArchiveID) {
        importsRunning.removeAll { $0 == archiveID }
        if verifying == archiveID { verifying = nil }
    }

    private mutating func complete(_ plan: Plan) -> [SyncAction] {
        if plan.failures.values.contains(where: \.kind.isRetryable) {
            failedLastPlan = Set(plan.failures.filter { $0.value.attempted && $0.value.kind.isRetryable }.keys)
            return enterBackoff(plan.pursuit, .archives(plan.failures))
        }
        failedLastPlan = []
        // Everything importable is in. Persisted as processed only when nothing a restart could
        // change is left: a restart fetches the index once more, so an archive over a
        // since-raised limit, or rejected by an older decoder, is imported then; in this run the
        // index counts as processed (not fetched again). Archives waiting for a key do not hold
        // it back (issue 29: a restart fetched the index and tried them again, every time): a
        // key that comes restarts the community, and a start that finds a waited key held does
        // not resume from the processed index (`LiveSyncEffects.resume`).
        phase = .idle
        processedIndexCID = plan.indexCID
        processedSelection = configuration.selection
        let outcome = SyncOutcome.completed(indexCID: plan.indexCID, imported: plan.importedCount, unimportable: plan.failures)
        let persist = plan.failures.values.allSatisfy { $0.kind == .waitingForKey }
        return (persist ? [.markProcessed(plan.indexCID, selection: configuration.selection)] : []) + [.finished(outcome)]
    }

    private mutating func enterBackoff(_ pursuit: Pursuit, _ failure: PlanFailure) -> [SyncAction] {
        var pursuit = pursuit
        pursuit.failedAttempts += 1
        phase = .backoff(pursuit, failure)
        return [.startTimer(.retry, after: retryDelay(attempt: pursuit.failedAttempts)), .finished(.failed(failure))]
    }

    /// Whether `cid` was processed for a selection that covers `selection`: `all` covers every
    /// selection, a range covers the ranges inside it, any selection covers itself. An unknown
    /// selection (a mark from before it was recorded) covers nothing.
    static func isProcessed(_ cid: CID, _ processed: CID?, _ processedSelection: ArchiveSelection?, for selection: ArchiveSelection) -> Bool {
        guard cid == processed, let processedSelection else { return false }
        return processedSelection.covers(selection)
    }

    /// The project's backoff (`Backoff`): initial × 2^(attempt-1), capped, less its jitter.
    private mutating func retryDelay(attempt: Int) -> Duration {
        Backoff(initial: configuration.retryInitialDelay, maximum: configuration.retryMaxDelay, jitter: configuration.retryJitter)
            .delay(afterAttempt: attempt, random: jitter.next())
    }
}
