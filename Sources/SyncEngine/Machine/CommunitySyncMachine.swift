import Foundation
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
/// - archives download with bounded concurrency and are imported one at a time as soon as
///   each is downloaded;
/// - a newer announcement during work cancels the downloads and re-plans after the quiet
///   window; an import already running completes (it is one transaction) and counts;
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
        public var communityID: String
        public var selection: ArchiveSelection
        public var quietWindow: Duration
        public var maxConcurrentDownloads: Int
        public var retryInitialDelay: Duration
        public var retryMaxDelay: Duration
        /// A plan's failure budget: after this many downloads in a row failed in a way that may
        /// heal, the rest of the plan is not tried this time (it is retried after the backoff).
        /// An index of 100,000 CIDs no node has would otherwise take hours of lookups per plan.
        public var maxConsecutiveDownloadFailures: Int

        public init(communityID: String, selection: ArchiveSelection = .all, quietWindow: Duration = .seconds(20),
                    maxConcurrentDownloads: Int = 3, retryInitialDelay: Duration = .seconds(5), retryMaxDelay: Duration = .seconds(600),
                    maxConsecutiveDownloadFailures: Int = 10) {
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
        public var imported: Set<String>
        public var downloaded: [DownloadedArchive]
        /// Archives that failed verification, with the failure as recorded (`import: …`): not downloaded again.
        public var rejected: [String: String]

        public init(clock: UInt64 = 0, indexCID: CID? = nil, processedIndexCID: CID? = nil, processedSelection: ArchiveSelection? = nil,
                    imported: Set<String> = [], downloaded: [DownloadedArchive] = [], rejected: [String: String] = [:]) {
            self.clock = clock
            self.indexCID = indexCID
            self.processedIndexCID = processedIndexCID
            self.processedSelection = processedSelection
            self.imported = imported
            self.downloaded = downloaded
            self.rejected = rejected
        }
    }

    public enum Phase: Sendable, Equatable {
        case idle
        case settling
        case fetchingIndex
        case working
        /// Something that may heal failed (a peer, the database); the retry timer runs.
        case backoff(PlanFailure)
        /// Stopping (`stopRequested()`): nothing new starts; results that still arrive are ignored.
        case stopped
    }

    /// One plan: the archives of one index still to download and import.
    struct Work: Sendable, Equatable {
        var indexCID: CID
        var pending: [ArchiveIndexEntry]
        var downloading: Set<String> = []
        var importedCount = 0
        var failures: [String: ArchiveFailure] = [:]
        /// Retryable download failures since the last download that worked (the failure budget).
        var downloadFailuresInARow = 0
    }

    public let configuration: Configuration
    public private(set) var phase: Phase = .idle
    public private(set) var storedClock: UInt64
    /// The newest index whose every importable archive is in (for `processedSelection`).
    public private(set) var processedIndexCID: CID?
    public private(set) var processedSelection: ArchiveSelection?
    public private(set) var imported: Set<String>
    /// The newest accepted announcement not yet fully processed.
    public private(set) var candidate: CID?
    public private(set) var generation = 0
    public private(set) var failedAttempts = 0
    /// Archives that failed verification, by archive ID, with the failure (`import: …`): not planned again.
    public private(set) var rejected: [String: String] = [:]
    private var work: Work?
    /// Archives on disk awaiting import, by archive ID (they survive re-plans).
    private var downloaded: [String: DownloadedArchive] = [:]
    /// Downloaded archives queued for import, in order (the current plan's, or resumed ones).
    private var importQueue: [String] = []
    /// The archive being imported (one writer at a time), whatever its generation.
    private var importing: String?
    /// Archives whose download failed in the last plan: the retry tries the others first, so a
    /// run of archives no node has cannot keep older ones from ever being tried.
    private var failedLastPlan: Set<String> = []

    public init(configuration: Configuration, persisted: Persisted = Persisted()) {
        self.configuration = configuration
        storedClock = persisted.clock
        processedIndexCID = persisted.processedIndexCID
        processedSelection = persisted.processedSelection
        imported = persisted.imported
        rejected = persisted.rejected
        if let cid = persisted.indexCID, !Self.isProcessed(cid, processedIndexCID, processedSelection, for: configuration.selection) {
            candidate = cid
        }
        for archive in persisted.downloaded where !persisted.imported.contains(archive.entry.id) {
            downloaded[archive.entry.id] = archive
        }
    }

    /// Whether an import is running or queued.
    public var isImporting: Bool { importing != nil || !importQueue.isEmpty }

    /// Whether nothing is planned, running or waiting for a timer: an outcome is not coming.
    public var isQuiescent: Bool { phase == .idle && !isImporting }

    // MARK: - Events

    /// Resume after a restart: import what was downloaded, then fetch what is missing.
    public mutating func started() -> [SyncAction] {
        var actions: [SyncAction] = []
        importQueue = downloaded.values.sorted { ($0.entry.from, $0.entry.id) > ($1.entry.from, $1.entry.id) }.map(\.entry.id)
        actions += nextImport()
        if let candidate {
            actions += beginFetch(candidate)
        }
        return actions
    }

    /// Stopping is an event like the others: the timer and the downloads are cancelled, and
    /// every later event is ignored. A running import is the driver's to cancel (its
    /// transaction rolls back; the downloaded file stays recorded for the next start).
    public mutating func stopRequested() -> [SyncAction] {
        guard phase != .stopped else { return [] }
        phase = .stopped
        work = nil
        importQueue.removeAll()
        return [.cancelTimer, .cancelDownloads(generation: generation)]
    }

    public mutating func announcementReceived(_ announcement: ArchiveAnnouncement) -> [SyncAction] {
        guard phase != .stopped else { return [] }
        guard announcement.signerID == configuration.communityID else {
            return [.ignored(.notSignedByCommunity(signer: announcement.signerID))]
        }
        guard announcement.clock >= storedClock else {
            return [.ignored(.olderClock(clock: announcement.clock, stored: storedClock))]
        }
        let cid = announcement.indexCID
        if Self.isProcessed(cid, processedIndexCID, processedSelection, for: configuration.selection) {
            return [.ignored(.alreadyProcessed(cid: cid.string))]
        }
        var actions: [SyncAction] = []
        storedClock = announcement.clock
        if let work, work.indexCID == cid, phase == .working || phase == .fetchingIndex {
            // The same index re-announced while it is being worked on: keep its newer clock, keep going.
            return [.persistAnnouncement(clock: storedClock, indexCID: cid)]
        }
        if phase == .working || phase == .fetchingIndex {
            actions.append(.cancelDownloads(generation: generation))
            work = nil
            importQueue.removeAll()
        }
        candidate = cid
        failedAttempts = 0
        phase = .settling
        actions.append(.persistAnnouncement(clock: storedClock, indexCID: cid))
        actions.append(.startTimer(.quietWindow, after: configuration.quietWindow))
        return actions
    }

    public mutating func quietWindowElapsed() -> [SyncAction] {
        guard phase == .settling, let candidate else { return [] }
        return beginFetch(candidate)
    }

    public mutating func retryDue() -> [SyncAction] {
        guard case .backoff = phase, let candidate else { return [] }
        return beginFetch(candidate)
    }

    public mutating func indexFetched(_ entries: [ArchiveIndexEntry], generation: Int) -> [SyncAction] {
        guard generation == self.generation, phase == .fetchingIndex, let candidate else { return [] }
        var inProgress = imported
        if let importing { inProgress.insert(importing) }
        let plan = ArchivePlanner.plan(entries, excluding: inProgress, selection: configuration.selection)
        var current = Work(indexCID: candidate, pending: plan)
        // Archives that failed verification before count as failed again, without a download.
        let knownBad = plan.reduce(into: [String: String]()) { known, entry in known[entry.id] = rejected[entry.id] }
        for (id, reason) in knownBad { current.failures[id] = ArchiveFailure(.rejected, reason) }
        // Archives already on disk go straight to the import queue.
        importQueue = plan.filter { rejected[$0.id] == nil && downloaded[$0.id] != nil }.map(\.id)
        current.pending.removeAll { rejected[$0.id] != nil || downloaded[$0.id] != nil }
        // Newest first, but what failed last time after what was not tried (stable).
        current.pending = current.pending.filter { !failedLastPlan.contains($0.id) } + current.pending.filter { failedLastPlan.contains($0.id) }
        work = current
        phase = .working
        return [.planned(archives: plan.count, knownBad: knownBad)] + nextDownloads() + nextImport() + completionIfDone()
    }

    /// The index could not be fetched or read. Always retried after a backoff: a node may come
    /// back, and a newer index may replace one that does not decode.
    public mutating func indexFailed(_ failure: ArchiveFailure, generation: Int) -> [SyncAction] {
        guard generation == self.generation, phase == .fetchingIndex, let candidate else { return [] }
        return enterBackoff(.index(candidate, failure))
    }

    public mutating func downloadFinished(_ archive: DownloadedArchive, generation: Int) -> [SyncAction] {
        guard phase != .stopped else { return [] }
        downloaded[archive.entry.id] = archive
        guard generation == self.generation, phase == .working, work != nil else { return [] }
        work?.downloading.remove(archive.entry.id)
        work?.downloadFailuresInARow = 0
        importQueue.append(archive.entry.id)
        return nextDownloads() + nextImport() + completionIfDone()
    }

    /// A download failed. Usually the node's fault and worth another try later; `.rejected`
    /// when no node can serve it in a form this agent can check (an erasure-coded dataset): it is
    /// then remembered like an archive that failed verification and not downloaded again.
    public mutating func downloadFailed(_ entry: ArchiveIndexEntry, _ failure: ArchiveFailure, generation: Int) -> [SyncAction] {
        guard generation == self.generation, phase == .working, work != nil else { return [] }
        work?.downloading.remove(entry.id)
        if !failure.kind.isRetryable { rejected[entry.id] = failure.reason }
        work?.failures[entry.id] = failure
        if failure.kind.isRetryable, var current = work {
            current.downloadFailuresInARow += 1
            if current.downloadFailuresInARow >= configuration.maxConsecutiveDownloadFailures {
                // The budget is spent: what is left waits for the retry, newest first again.
                let skipped = "not tried: the last \(current.downloadFailuresInARow) downloads of this plan failed (\(failure.reason))"
                for entry in current.pending { current.failures[entry.id] = ArchiveFailure(failure.kind, skipped, attempted: false) }
                current.pending.removeAll()
            }
            work = current
        }
        return nextDownloads() + completionIfDone()
    }

    /// An import committed (whatever the generation: the archive is in the database).
    public mutating func importFinished(_ archiveID: String) -> [SyncAction] {
        guard phase != .stopped else { return [] }
        imported.insert(archiveID)
        downloaded[archiveID] = nil
        if importing == archiveID { importing = nil }
        if work != nil { work?.importedCount += 1 }
        return nextImport() + completionIfDone()
    }

    /// An import failed; the rest of the plan goes on.
    /// What happens to the archive follows `failure.kind`: a database failure keeps the file for
    /// the retry; a file that is gone or damaged is downloaded again; rejected or over-limit
    /// archives are not tried again (in this run, for over-limit ones).
    public mutating func importFailed(_ archiveID: String, _ failure: ArchiveFailure) -> [SyncAction] {
        guard phase != .stopped else { return [] }
        if importing == archiveID { importing = nil }
        switch failure.kind {
        case .database:
            break
        case .rejected, .overLimit:
            downloaded[archiveID] = nil
            rejected[archiveID] = failure.reason
        case .peerUnreachable, .download, .unreadableFile, .localDisk:
            downloaded[archiveID] = nil
        }
        if work != nil { work?.failures[archiveID] = failure }
        return nextImport() + completionIfDone()
    }

    // MARK: - Steps

    private mutating func beginFetch(_ cid: CID) -> [SyncAction] {
        generation += 1
        phase = .fetchingIndex
        work = Work(indexCID: cid, pending: [])
        return [.fetchIndex(cid, generation: generation)]
    }

    private mutating func nextDownloads() -> [SyncAction] {
        guard phase == .working, var current = work else { return [] }
        var actions: [SyncAction] = []
        while current.downloading.count < configuration.maxConcurrentDownloads, !current.pending.isEmpty {
            let entry = current.pending.removeFirst()
            current.downloading.insert(entry.id)
            actions.append(.download(entry, generation: generation))
        }
        work = current
        return actions
    }

    private mutating func nextImport() -> [SyncAction] {
        guard importing == nil else { return [] }
        while !importQueue.isEmpty {
            let id = importQueue.removeFirst()
            guard !imported.contains(id), let archive = downloaded[id] else { continue }
            importing = id
            return [.importArchive(archive, generation: generation)]
        }
        return []
    }

    private mutating func completionIfDone() -> [SyncAction] {
        guard phase == .working, let current = work, current.pending.isEmpty, current.downloading.isEmpty,
              importQueue.isEmpty, importing == nil
        else { return [] }
        work = nil
        if current.failures.values.contains(where: \.kind.isRetryable) {
            failedLastPlan = Set(current.failures.filter { $0.value.attempted && $0.value.kind.isRetryable }.keys)
            return enterBackoff(.archives(current.failures))
        }
        failedLastPlan = []
        // Everything importable is in. Only a plan without failures is persisted as processed:
        // a restart fetches the index once more, so an archive over a since-raised limit is
        // imported then; in this run the index counts as processed (not fetched again).
        phase = .idle
        processedIndexCID = current.indexCID
        processedSelection = configuration.selection
        candidate = nil
        failedAttempts = 0
        let outcome = SyncOutcome.completed(indexCID: current.indexCID, imported: current.importedCount, unimportable: current.failures)
        return (current.failures.isEmpty ? [.markProcessed(current.indexCID, selection: configuration.selection)] : []) + [.finished(outcome)]
    }

    private mutating func enterBackoff(_ failure: PlanFailure) -> [SyncAction] {
        failedAttempts += 1
        phase = .backoff(failure)
        work = nil
        return [.startTimer(.retry, after: retryDelay(attempt: failedAttempts)), .finished(.failed(failure))]
    }

    /// Whether `cid` was processed for a selection that covers `selection`: `all` covers every
    /// selection, a range covers the ranges inside it, any selection covers itself. An unknown
    /// selection (a mark from before it was recorded) covers nothing.
    static func isProcessed(_ cid: CID, _ processed: CID?, _ processedSelection: ArchiveSelection?, for selection: ArchiveSelection) -> Bool {
        guard cid == processed, let processedSelection else { return false }
        return processedSelection.covers(selection)
    }

    /// Exponential: initial × 2^(attempt-1), capped.
    public func retryDelay(attempt: Int) -> Duration {
        var delay = configuration.retryInitialDelay
        for _ in 1..<max(1, attempt) where delay < configuration.retryMaxDelay { delay = delay * 2 }
        return min(delay, configuration.retryMaxDelay)
    }
}
