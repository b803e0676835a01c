import ArchiveImport
import CodexClient
import Foundation
import HistoryStore
import Logging
import StatusCrypto
import StatusWire

/// Performs a `CommunitySyncMachine`'s actions: timers on an injected clock, Codex downloads
/// (bounded by the machine), imports one at a time off the actor, and the persisted state.
/// Results come back to the machine as events.
///
/// ```swift
/// let driver = CommunitySyncDriver(configuration: config, database: db, codex: codex, archivesDirectory: dir)
/// try await driver.start()
/// await driver.receive(announcement)
/// let outcome = await driver.nextOutcome()
/// ```
public actor CommunitySyncDriver {
    public nonisolated let configuration: CommunitySyncMachine.Configuration
    private var machine: CommunitySyncMachine
    private let database: HistoryDatabase
    private let codex: CodexClient
    private let importer: ArchiveImporter
    private let importOptions: ArchiveImportOptions
    private let archivesDirectory: URL
    private let clock: any Clock<Duration>
    private let diskMarginBytes: Int64
    private let diskReservations: DiskReservations
    private let bandwidth: BandwidthLimiter?
    private let logger: Logger
    private let onEvent: @Sendable (SyncEvent) -> Void
    /// Every database write of this driver, in order, off the cooperative thread pool.
    private let lane: DatabaseLane

    private var timer: Task<Void, Never>?
    private var downloads: [Int: [String: Task<Void, Never>]] = [:]
    /// Index fetches (cancelled on stop) and imports (awaited on stop: a transaction commits or rolls back).
    private var fetches: [UUID: Task<Void, Never>] = [:]
    private var imports: [UUID: Task<Void, Never>] = [:]
    /// Raised by `stop()`: nothing new starts, and a running import checks it between batches
    /// of entries and rolls back.
    private let shutdown = ShutdownSignal()
    private var outcomeWaiters: [CheckedContinuation<SyncOutcome, Never>] = []
    /// An outcome that came while nobody waited: the next `nextOutcome()` returns it.
    private var undelivered: SyncOutcome?
    private var started = false

    public init(
        configuration: CommunitySyncMachine.Configuration, database: HistoryDatabase, codex: CodexClient,
        archivesDirectory: URL, importOptions: ArchiveImportOptions = .init(), clock: any Clock<Duration> = ContinuousClock(),
        diskMarginBytes: Int64 = 100 << 20, diskReservations: DiskReservations = DiskReservations(), bandwidth: BandwidthLimiter? = nil,
        logger: Logger = Logger(label: "community-history.sync"), onEvent: @escaping @Sendable (SyncEvent) -> Void = { _ in }
    ) throws {
        self.configuration = configuration
        self.database = database
        self.codex = codex
        self.importer = try ArchiveImporter(database: database, communityID: configuration.communityID)
        self.importOptions = importOptions
        self.archivesDirectory = archivesDirectory
        self.clock = clock
        self.diskMarginBytes = diskMarginBytes
        self.diskReservations = diskReservations
        self.bandwidth = bandwidth
        self.logger = logger
        self.onEvent = onEvent
        self.lane = DatabaseLane(label: "community-history.database.\(configuration.communityID.prefix(12))")
        self.machine = CommunitySyncMachine(configuration: configuration)
    }

    public var phase: CommunitySyncMachine.Phase { machine.phase }

    /// Loads the persisted state and resumes: imports what was downloaded, fetches what is missing.
    /// `rescan`: forget which index was processed, so the newest one is fetched again and every
    /// selected archive not in the database is planned (archives rejected before stay rejected).
    public func start(rescan: Bool = false) throws {
        guard !started else { return }
        started = true
        try FileManager.default.createDirectory(at: archivesDirectory, withIntermediateDirectories: true)
        let communityID = configuration.communityID
        let state = try database.indexState(communityID: communityID)
        let imported = try database.importedArchiveIDs(communityID: communityID)
        try forgetDownloads(try database.downloadedArchives(communityID: communityID).filter {
            imported.contains($0.id) || !FileManager.default.fileExists(atPath: $0.path)
        })
        ArchivesDirectorySweep(directory: archivesDirectory, logger: logger).run(keeping: try database.downloadedArchivePaths())
        let downloaded = try database.downloadedArchives(communityID: communityID).compactMap { record -> DownloadedArchive? in
            guard let cid = try? CID(record.cid) else { return nil }
            let topics = record.contentTopics.compactMap { try? ContentTopic(bytes: Hex.decode($0)) }
            return DownloadedArchive(entry: ArchiveIndexEntry(id: record.id, cid: cid, from: record.from, to: record.to, contentTopics: topics),
                                     path: record.path)
        }
        machine = CommunitySyncMachine(configuration: configuration, persisted: .init(
            clock: state?.indexClock ?? 0, indexCID: state?.indexCID.flatMap { try? CID($0) },
            processedIndexCID: rescan ? nil : state?.processedIndexCID.flatMap { try? CID($0) },
            processedSelection: state?.processedSelection.flatMap(ArchiveSelection.init(storageKey:)),
            imported: imported, downloaded: downloaded,
            rejected: try database.rejectedArchives(communityID: communityID, decoderRevision: ArchiveImporter.decoderRevision)))
        perform(machine.started())
    }

    public func receive(_ announcement: ArchiveAnnouncement) {
        perform(machine.announcementReceived(announcement))
    }

    /// Waits for the next plan to end (or returns `.nothingToDo` when there is none). An
    /// outcome reached before anyone asked is not lost: the next call returns it.
    public func nextOutcome() async -> SyncOutcome {
        if let outcome = undelivered {
            undelivered = nil
            await lane.drain()  // what the plan wrote is on disk before the caller hears of it
            return outcome
        }
        if machine.phase == .idle && !machine.isImporting { return .nothingToDo }
        return await withCheckedContinuation { outcomeWaiters.append($0) }
    }

    /// Cancels timers, index fetches and downloads, starts nothing new, and stops a running
    /// import at its next batch of 1,000 entries: its transaction rolls back, so the database is
    /// as before that archive. Downloaded archives not yet imported (that one included) stay
    /// recorded for the next start. Returns within a fraction of a second, whatever the size of
    /// the archive being imported.
    public func stop() async {
        shutdown.raise()
        timer?.cancel()
        for group in downloads.values { for task in group.values { task.cancel() } }
        for task in fetches.values { task.cancel() }
        for task in imports.values { await task.value }
        await lane.drain()
    }

    // MARK: - Actions

    private func perform(_ actions: [SyncAction]) {
        for action in actions { perform(action) }
    }

    private func perform(_ action: SyncAction) {
        if shutdown.isRaised {
            switch action {
            case .startTimer, .fetchIndex, .download, .importArchive: return
            default: break
            }
        }
        switch action {
        case .persistAnnouncement(let clock, let cid):
            onEvent(.announcementAccepted(clock: clock, indexCID: cid.string))
            persist { state in state.indexClock = clock; state.indexCID = cid.string }
        case .startTimer(let kind, let delay):
            timer?.cancel()
            timer = Task { [clock] in
                do { try await clock.sleep(for: delay) } catch { return }
                self.timerFired(kind)
            }
        case .cancelTimer:
            timer?.cancel()
        case .fetchIndex(let cid, let generation):
            let id = UUID()
            fetches[id] = Task {
                await self.fetchIndex(cid, generation: generation)
                self.fetchEnded(id)
            }
        case .download(let entry, let generation):
            let task = Task { await self.download(entry, generation: generation) }
            downloads[generation, default: [:]][entry.id] = task
        case .cancelDownloads(let generation):
            for task in downloads[generation, default: [:]].values { task.cancel() }
            downloads[generation] = nil
        case .importArchive(let archive, _):
            let id = UUID()
            imports[id] = Task {
                await self.importArchive(archive)
                self.importEnded(id)
            }
        case .markProcessed(let cid, let selection):
            persist { state in
                state.processedIndexCID = cid.string
                state.processedSelection = selection.storageKey
            }
        case .planned(let archives, let knownBad):
            onEvent(.planned(archives: archives, knownBad: knownBad))
        case .ignored(let reason):
            onEvent(.announcementIgnored(reason))
        case .finished(let outcome):
            finish(outcome)
        }
    }

    private func timerFired(_ kind: SyncTimer) {
        switch kind {
        case .quietWindow: perform(machine.quietWindowElapsed())
        case .retry: perform(machine.retryDue())
        }
    }

    private func finish(_ outcome: SyncOutcome) {
        let (database, communityID) = (self.database, configuration.communityID)
        var error: String?
        if case .failed(let failure) = outcome { error = failure.description }
        let logger = self.logger
        lane.submit { [error] in
            do { try database.recordOutcome(communityID: communityID, error: error) } catch {
                // The outcome is still reported (event below); `status` shows the previous one.
                logger.error("cannot record the plan's outcome", metadata: ["error": "\(error)"])
            }
        }
        onEvent(.finished(outcome))
        let waiters = outcomeWaiters
        outcomeWaiters.removeAll()
        undelivered = waiters.isEmpty ? outcome : nil
        // Through the lane: whoever waits sees every write made before the outcome.
        lane.submit { for waiter in waiters { waiter.resume(returning: outcome) } }
    }

    private func persist(_ change: @escaping @Sendable (inout CommunityIndexState) -> Void) {
        let (database, communityID, logger) = (self.database, configuration.communityID, self.logger)
        lane.submit {
            do {
                var state = try database.indexState(communityID: communityID) ?? CommunityIndexState(communityID: communityID)
                change(&state)
                try database.saveIndexState(state)
            } catch {
                logger.error("cannot save the index state", metadata: ["error": "\(error)"])
            }
        }
    }

    private func fetchEnded(_ id: UUID) { fetches[id] = nil }
    private func importEnded(_ id: UUID) { imports[id] = nil }

    // MARK: - Work (runs in tasks, reports back to the actor)

    private func fetchIndex(_ cid: CID, generation: Int) async {
        let file = archivesDirectory.appendingPathComponent("index-\(cid.string)")
        do {
            // Made again if someone removed it since start (downloads would fail forever otherwise).
            try FileManager.default.createDirectory(at: archivesDirectory, withIntermediateDirectories: true)
            // The index is read whole into memory: refuse one larger than an archive may be before
            // a byte of it is downloaded (the download then stops at the manifest's size).
            let manifest = try await codex.manifest(cid)
            guard manifest.manifest.datasetSize <= Int64(importOptions.limits.maxInflatedBytes) else {
                let limit = ArchiveDecodingError.inflatedSizeExceeded(limit: importOptions.limits.maxInflatedBytes)
                return indexFailed(cid, ArchiveFailure(.overLimit, "\(limit)"), generation: generation)
            }
            try await codex.download(cid, to: file, manifest: manifest)
        } catch {
            // Cancelled by stop(): not a failure of the node, nothing to report or back off from.
            if Task.isCancelled { return }
            return indexFailed(cid, ArchiveFailure(.ofFetch(error), "\(error)"), generation: generation)
        }
        defer {
            do { try FileManager.default.removeItem(at: file) } catch {
                logger.warning("cannot remove the downloaded index", metadata: ["path": "\(file.path)", "error": "\(error)"])
            }
        }
        let index: ArchiveIndex
        do {
            index = try ArchiveIndex(bytes: [UInt8](try Data(contentsOf: file)), limits: importOptions.limits)
        } catch {
            return indexFailed(cid, ArchiveFailure(.ofIndexDecoding(error), "\(error)"), generation: generation)
        }
        onEvent(.indexDownloaded(indexCID: cid.string, archives: index.entries.count, rejectedEntries: index.rejected.count))
        for bad in index.rejected {
            logger.warning("index entry rejected", metadata: ["key": "\(bad.key)", "reason": "\(bad.reason)"])
        }
        perform(machine.indexFetched(index.entries, generation: generation))
    }

    private func indexFailed(_ cid: CID, _ failure: ArchiveFailure, generation: Int) {
        logger.warning("index fetch failed", metadata: ["cid": "\(cid)", "kind": "\(failure.kind.rawValue)", "error": "\(failure.reason)"])
        perform(machine.indexFailed(failure, generation: generation))
    }

    private func download(_ entry: ArchiveIndexEntry, generation: Int) async {
        let destination = archivesDirectory.appendingPathComponent(entry.cid.string)
        do {
            try FileManager.default.createDirectory(at: archivesDirectory, withIntermediateDirectories: true)
            try await bandwidth?.waitForBudget()
            onEvent(.downloadStarted(archiveID: entry.id, cid: entry.cid.string))
            let manifest = try await codex.manifest(entry.cid)
            let total = manifest.manifest.datasetSize
            let reservation = try diskReservations.reserve(total, margin: diskMarginBytes, at: archivesDirectory,
                                                           for: "archive \(entry.id.prefix(18))…")
            defer { reservation.release() }
            let steps = SharedProgressSteps(total: total)
            let onEvent = self.onEvent
            let bytes = try await codex.download(entry.cid, to: destination, manifest: manifest) { received in
                if steps.advance(to: received) { onEvent(.downloadProgress(archiveID: entry.id, bytes: received, totalBytes: total)) }
            }
            await bandwidth?.consumed(bytes)
            onEvent(.archiveDownloaded(archiveID: entry.id, from: entry.from, to: entry.to, bytes: bytes))
            let record = DownloadedArchiveRecord(
                id: entry.id, communityID: configuration.communityID, cid: entry.cid.string, path: destination.path,
                from: entry.from, to: entry.to, contentTopics: entry.contentTopics.map { Hex.encode($0.bytes, prefixed: true) })
            let database = self.database
            try await lane.run { try database.recordDownloaded(record) }
            downloads[generation]?[entry.id] = nil
            perform(machine.downloadFinished(DownloadedArchive(entry: entry, path: destination.path), generation: generation))
        } catch {
            downloads[generation]?[entry.id] = nil
            if Task.isCancelled { return }
            // Most download failures are the node's and may heal; a Codex answer that says the
            // dataset can never be checked here (erasure-coded) will not.
            let failure = ArchiveFailure(.ofFetch(error), "download: \(error)")
            logger.warning("archive download failed", metadata: ["archive": "\(entry.id)", "kind": "\(failure.kind.rawValue)", "error": "\(error)"])
            recordFailure(entry.id, failure)
            perform(machine.downloadFailed(entry, failure, generation: generation))
        }
    }

    private func importArchive(_ archive: DownloadedArchive) async {
        onEvent(.importingArchive(archiveID: archive.entry.id))
        let importer = self.importer
        let options = self.importOptions
        let (onEvent, shutdown) = (self.onEvent, self.shutdown)
        // Decoding and SQLite block for the whole archive: on the lane, not on the actor (one
        // import at a time, the machine says so).
        let result: Result<ArchiveImportResult, any Error>
        do {
            result = .success(try await lane.run {
                try importer.importArchive(archive.entry, path: archive.path, options: options) { entries in
                    onEvent(.importProgress(archiveID: archive.entry.id, entries: entries))
                    if shutdown.isRaised { throw CancellationError() }
                }
            })
        } catch {
            result = .failure(error)
        }
        switch result {
        case .failure(is CancellationError):
            // Rolled back by stop(): the file stays recorded and the next start imports it.
            logger.info("import rolled back for shutdown", metadata: ["archive": "\(archive.entry.id)"])
            return
        case .success(let imported):
            cleanUp(archive)
            onEvent(.archiveImported(imported))
            perform(machine.importFinished(archive.entry.id))
        case .failure(HistoryStoreError.alreadyImported):
            cleanUp(archive)
            perform(machine.importFinished(archive.entry.id))
        case .failure(let error as ArchiveDecodingError) where ArchiveFailureKind.isOverLimit(error):
            // Over a limit the user may raise: not remembered past this run, so raising
            // --max-archive-bytes / --max-message-bytes (a restart) imports it.
            cleanUp(archive)
            logger.warning("archive over a limit", metadata: ["archive": "\(archive.entry.id)", "reason": "\(error)"])
            importFailed(archive, ArchiveFailure(.overLimit, "import: \(error)"))
        case .failure(let error as ArchiveDecodingError) where await Self.isWhatItsCIDNames(archive):
            // The bytes are what the CID names (checked again now: the file may have been damaged
            // since its download), so downloading them again would not help until a new index
            // replaces the archive. Remembered as rejected.
            cleanUp(archive)
            logger.warning("archive rejected", metadata: ["archive": "\(archive.entry.id)", "reason": "\(error)"])
            importFailed(archive, ArchiveFailure(.rejected, "import: \(error)"))
        case .failure(let error) where HistoryStoreError.isDatabaseFailure(error):
            // Busy past the timeout, disk full: keep the file for the next attempt.
            logger.error("archive import failed", metadata: ["archive": "\(archive.entry.id)", "error": "\(error)"])
            importFailed(archive, ArchiveFailure(.database, "import: \(error)"))
        case .failure(let error):
            // The downloaded file is gone, unreadable or damaged on disk (it no longer hashes to
            // its CID): download it again next time.
            logger.error("archive file unreadable", metadata: ["archive": "\(archive.entry.id)", "error": "\(error)"])
            cleanUp(archive)
            importFailed(archive, ArchiveFailure(.unreadableFile, "import: \(error)"))
        }
        if machine.phase == .idle && !machine.isImporting && !outcomeWaiters.isEmpty {
            finish(.nothingToDo)
        }
    }

    private func importFailed(_ archive: DownloadedArchive, _ failure: ArchiveFailure) {
        recordFailure(archive.entry.id, failure)
        perform(machine.importFailed(archive.entry.id, failure))
    }

    /// Whether the downloaded file still hashes to its archive's CID, off the actor (it reads
    /// the whole file).
    static func isWhatItsCIDNames(_ archive: DownloadedArchive) async -> Bool {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let address = try? CID.codex(ofFileAt: archive.path, .statusArchive)
                continuation.resume(returning: address?.manifestCID == archive.entry.cid)
            }
        }
    }

    /// A rejected archive is recorded with the decoder revision that found it bad: it is not
    /// downloaded again while that revision decodes.
    private func recordFailure(_ archiveID: String, _ failure: ArchiveFailure) {
        let (database, communityID, logger) = (self.database, configuration.communityID, self.logger)
        let reason = failure.reason
        let revision = failure.kind == .rejected ? ArchiveImporter.decoderRevision : nil
        lane.submit {
            do {
                try database.recordFailure(archiveID: archiveID, communityID: communityID, reason: reason, rejectedByDecoderRevision: revision)
            } catch {
                // The failure is still reported (event below); only its record for `status` and restarts is lost.
                logger.error("cannot record an archive failure", metadata: ["archive": "\(archiveID)", "error": "\(error)"])
            }
        }
        onEvent(.archiveFailed(archiveID: archiveID, failure: failure))
    }

    /// Removes an archive's file and its download record, off the actor. An import commits both
    /// records away itself; a file a failed clean-up leaves is removed by the next start's sweep.
    private func cleanUp(_ archive: DownloadedArchive) {
        let (database, logger) = (self.database, self.logger)
        lane.submit {
            do {
                try database.removeDownloaded(archiveID: archive.entry.id)
                try FileManager.default.removeItem(atPath: archive.path)
            } catch {
                logger.warning("cannot clean up a downloaded archive; the next start removes it",
                               metadata: ["archive": "\(archive.entry.id)", "path": "\(archive.path)", "error": "\(error)"])
            }
        }
    }

    /// Download records an interrupted run left behind: the archive was imported (before its
    /// records were removed in the import's transaction) or its file is gone.
    private func forgetDownloads(_ records: [DownloadedArchiveRecord]) throws {
        for record in records {
            logger.info("forgetting a stale download record", metadata: ["archive": "\(record.id)", "path": "\(record.path)"])
            try database.removeDownloaded(archiveID: record.id)
        }
    }
}
