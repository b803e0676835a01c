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
/// - the processed CID is persisted only when every planned archive is imported;
/// - failures that may heal move to backoff with a reason and retry later, never in a hot loop;
/// - an archive that failed verification is never downloaded again by this machine: its bytes
///   are what its CID names. When only such failures are left, the machine stalls (no retry
///   timer) until a newer index is announced.
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

        public init(communityID: String, selection: ArchiveSelection = .all, quietWindow: Duration = .seconds(20),
                    maxConcurrentDownloads: Int = 3, retryInitialDelay: Duration = .seconds(5), retryMaxDelay: Duration = .seconds(600)) {
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
        public var imported: Set<String>
        public var downloaded: [DownloadedArchive]
        /// Archives that failed verification, with the failure as recorded (`import: …`): not downloaded again.
        public var rejected: [String: String]

        public init(clock: UInt64 = 0, indexCID: CID? = nil, processedIndexCID: CID? = nil,
                    imported: Set<String> = [], downloaded: [DownloadedArchive] = [], rejected: [String: String] = [:]) {
            self.clock = clock
            self.indexCID = indexCID
            self.processedIndexCID = processedIndexCID
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
        case backoff(reason: String)
        /// Archives failed verification and nothing else is left: retrying cannot help, so
        /// nothing happens until a newer announcement.
        case stalled(reason: String)
    }

    /// Why an archive of a plan was not imported.
    struct Failure: Sendable, Equatable {
        var reason: String
        /// The archive's content is bad: the same CID will always fail.
        var permanent: Bool
    }

    /// One plan: the archives of one index still to download and import.
    struct Work: Sendable, Equatable {
        var indexCID: CID
        var pending: [ArchiveIndexEntry]
        var downloading: Set<String> = []
        var importedCount = 0
        var failures: [String: Failure] = [:]
    }

    public let configuration: Configuration
    public private(set) var phase: Phase = .idle
    public private(set) var storedClock: UInt64
    public private(set) var processedIndexCID: CID?
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

    public init(configuration: Configuration, persisted: Persisted = Persisted()) {
        self.configuration = configuration
        storedClock = persisted.clock
        processedIndexCID = persisted.processedIndexCID
        imported = persisted.imported
        rejected = persisted.rejected
        if let cid = persisted.indexCID, cid != persisted.processedIndexCID { candidate = cid }
        for archive in persisted.downloaded where !persisted.imported.contains(archive.entry.id) {
            downloaded[archive.entry.id] = archive
        }
    }

    /// Whether an import is running or queued.
    public var isImporting: Bool { importing != nil || !importQueue.isEmpty }

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

    public mutating func announcementReceived(_ announcement: ArchiveAnnouncement) -> [SyncAction] {
        guard announcement.signerID == configuration.communityID else {
            return [.ignored(.notSignedByCommunity(signer: announcement.signerID))]
        }
        guard announcement.clock >= storedClock else {
            return [.ignored(.olderClock(clock: announcement.clock, stored: storedClock))]
        }
        let cid = announcement.indexCID
        if cid == processedIndexCID {
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
        for (id, reason) in knownBad { current.failures[id] = Failure(reason: reason, permanent: true) }
        // Archives already on disk go straight to the import queue.
        importQueue = plan.filter { rejected[$0.id] == nil && downloaded[$0.id] != nil }.map(\.id)
        current.pending.removeAll { rejected[$0.id] != nil || downloaded[$0.id] != nil }
        work = current
        phase = .working
        return [.planned(archives: plan.count, knownBad: knownBad)] + nextDownloads() + nextImport() + completionIfDone()
    }

    public mutating func indexFailed(_ reason: String, generation: Int) -> [SyncAction] {
        guard generation == self.generation, phase == .fetchingIndex else { return [] }
        return enterBackoff("index \(candidate?.string ?? "?"): \(reason)", retryable: true)
    }

    public mutating func downloadFinished(_ archive: DownloadedArchive, generation: Int) -> [SyncAction] {
        downloaded[archive.entry.id] = archive
        guard generation == self.generation, phase == .working, work != nil else { return [] }
        work?.downloading.remove(archive.entry.id)
        importQueue.append(archive.entry.id)
        return nextDownloads() + nextImport() + completionIfDone()
    }

    /// A download failed. Usually the node's fault and worth another try later; `permanent`
    /// when no node can serve it in a form this agent can check (an erasure-coded dataset): it is
    /// then remembered like an archive that failed verification and not downloaded again.
    public mutating func downloadFailed(_ entry: ArchiveIndexEntry, reason: String, permanent: Bool = false, generation: Int) -> [SyncAction] {
        guard generation == self.generation, phase == .working, work != nil else { return [] }
        work?.downloading.remove(entry.id)
        if permanent { rejected[entry.id] = "download: \(reason)" }
        work?.failures[entry.id] = Failure(reason: "download: \(reason)", permanent: permanent)
        return nextDownloads() + completionIfDone()
    }

    /// An import committed (whatever the generation: the archive is in the database).
    public mutating func importFinished(_ archiveID: String) -> [SyncAction] {
        imported.insert(archiveID)
        downloaded[archiveID] = nil
        if importing == archiveID { importing = nil }
        if work != nil { work?.importedCount += 1 }
        return nextImport() + completionIfDone()
    }

    /// Why an import failed, which decides what a retry does with the archive.
    public enum ImportFailure: Sendable, Equatable {
        /// The archive failed verification. Its bytes are what its CID names, so it would fail
        /// again: the file is discarded and the archive is not planned again.
        case badArchive
        /// The database refused (busy past its timeout, disk full): the file is kept and
        /// imported again on retry.
        case database
        /// The downloaded file could not be read: it is downloaded again on retry.
        case unreadableFile
        /// The archive is over a decoding limit the user sets: not tried again in this run (it
        /// would fail the same way), but not remembered either, so a run with raised limits
        /// imports it.
        case overLimit
    }

    /// An import failed; the rest of the plan goes on.
    public mutating func importFailed(_ archiveID: String, reason: String, kind: ImportFailure) -> [SyncAction] {
        if importing == archiveID { importing = nil }
        switch kind {
        case .badArchive:
            downloaded[archiveID] = nil
            rejected[archiveID] = "import: \(reason)"
        case .database:
            break
        case .unreadableFile:
            downloaded[archiveID] = nil
        case .overLimit:
            downloaded[archiveID] = nil
            rejected[archiveID] = "import: \(reason)"
        }
        if work != nil {
            work?.failures[archiveID] = Failure(reason: "import: \(reason)", permanent: kind == .badArchive || kind == .overLimit)
        }
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
        if current.failures.isEmpty {
            phase = .idle
            processedIndexCID = current.indexCID
            candidate = nil
            failedAttempts = 0
            return [.markProcessed(current.indexCID), .finished(.completed(indexCID: current.indexCID.string, imported: current.importedCount))]
        }
        let reasons = current.failures.sorted { $0.key < $1.key }.map { "\($0.key.prefix(18))…: \($0.value.reason)" }
        let summary = "\(current.failures.count) archive(s) failed: " + reasons.joined(separator: "; ")
        if current.failures.values.allSatisfy(\.permanent) {
            phase = .stalled(reason: summary)
            failedAttempts = 0
            return [.finished(.failed(reason: summary, retryable: false))]
        }
        return enterBackoff(summary, retryable: true)
    }

    private mutating func enterBackoff(_ reason: String, retryable: Bool) -> [SyncAction] {
        failedAttempts += 1
        phase = .backoff(reason: reason)
        work = nil
        return [.startTimer(.retry, after: retryDelay(attempt: failedAttempts)), .finished(.failed(reason: reason, retryable: retryable))]
    }

    /// Exponential: initial × 2^(attempt-1), capped.
    public func retryDelay(attempt: Int) -> Duration {
        var delay = configuration.retryInitialDelay
        for _ in 1..<max(1, attempt) where delay < configuration.retryMaxDelay { delay = delay * 2 }
        return min(delay, configuration.retryMaxDelay)
    }
}
