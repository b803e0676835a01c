import ArchiveImport
import CodexClient
import Foundation
import HistoryStore
import Logging
import StatusCrypto
import StatusWire

/// Runs one community's `CommunitySyncMachine`: one `run()` loop owns the machine, performs its
/// actions, and feeds results back as events. Index fetches, downloads, imports and timers are
/// child tasks of one task group; each posts its typed result (`DriverEvent`) to the loop's
/// mailbox. Cancelling `run()` is stopping: the machine gets `stopRequested()`, the children are
/// cancelled (a running import stops and takes back the rows it had written, unpublished), and when
/// `run()` returns nothing of this driver runs any more. The shape of swift-service-lifecycle's
/// `ServiceGroup`: no stored `Task`s, no flags.
///
/// ```swift
/// let driver = try CommunitySyncDriver(configuration: config, database: db, codex: codex, archivesDirectory: dir)
/// try await withThrowingTaskGroup(of: Void.self) { group in
///     group.addTask { try await driver.run(initial: announcements) { outcome in print(outcome) } }
///     …                  // until the outcome wanted
///     group.cancelAll()  // stop
/// }
/// ```
///
/// `run` throws only when the persisted state cannot be read at start (`HistoryStoreError`,
/// `DatabaseError`) or the archives directory cannot be made.
public struct CommunitySyncDriver: Sendable {
    public let configuration: CommunitySyncMachine.Configuration
    let database: HistoryDatabase
    let codex: CodexClient
    let importer: ArchiveImporter
    let importOptions: ArchiveImportOptions
    let archivesDirectory: URL
    let clock: any Clock<Duration>
    let diskMarginBytes: Int64
    let diskReservations: DiskReservations
    let bandwidth: BandwidthLimiter?
    /// Downloads and imports allowed at once across every community of the process (the
    /// agent's); nil: only this community's own `maxConcurrentDownloads`.
    let budget: WorkBudget?
    let logger: Logger
    let onEvent: @Sendable (SyncEvent) -> Void

    public init(
        configuration: CommunitySyncMachine.Configuration, database: HistoryDatabase, codex: CodexClient,
        archivesDirectory: URL, importOptions: ArchiveImportOptions = .init(), clock: any Clock<Duration> = ContinuousClock(),
        diskMarginBytes: Int64 = 100 << 20, diskReservations: DiskReservations = DiskReservations(), bandwidth: BandwidthLimiter? = nil,
        budget: WorkBudget? = nil,
        logger: Logger = Logger(label: "community-history.sync"), onEvent: @escaping @Sendable (SyncEvent) -> Void = { _ in }
    ) throws {
        self.budget = budget
        self.configuration = configuration
        self.database = database
        self.codex = codex
        self.importer = ArchiveImporter(database: database, communityID: configuration.communityID)
        self.importOptions = importOptions
        self.archivesDirectory = archivesDirectory
        self.clock = clock
        self.diskMarginBytes = diskMarginBytes
        self.diskReservations = diskReservations
        self.bandwidth = bandwidth
        self.logger = logger
        self.onEvent = onEvent
    }

    /// Resumes from the persisted state (imports what was downloaded, fetches what is missing),
    /// acts on `initial` (a store query's answer), then on each announcement of `live`, until
    /// the calling task is cancelled. `onOutcome` hears how each plan ends, and `.nothingToDo`
    /// each time the driver falls idle without a plan ending (after `initial` when nothing was
    /// to be done, after resumed imports): no outcome is coming until a new announcement. `rescan`: forget which index
    /// was processed, so the newest one is fetched again and every selected archive not in the
    /// database is planned (archives rejected before stay rejected).
    public func run(
        initial: [ArchiveAnnouncement] = [], live: AsyncStream<ArchiveAnnouncement>? = nil, rescan: Bool = false,
        onOutcome: @escaping @Sendable (SyncOutcome) -> Void = { _ in }
    ) async throws {
        var machine = try await resume(rescan: rescan)
        let (mailbox, post) = AsyncStream.makeStream(of: DriverEvent.self)
        await withDiscardingTaskGroup { group in
            var loop = DriverLoop(driver: self, post: post, onOutcome: onOutcome)
            if let live {
                group.addTask { for await announcement in live { post.yield(.announcement(announcement)) } }
            }
            await loop.perform(machine.started(), machine: &machine, group: &group)
            for announcement in initial {
                await loop.perform(machine.announcementReceived(announcement), machine: &machine, group: &group)
            }
            loop.reportIdle(machine)
            // Ends when the calling task is cancelled: that is stopping.
            for await event in mailbox {
                await loop.handle(event, machine: &machine, group: &group)
                loop.reportIdle(machine)
            }
            await loop.perform(machine.stopRequested(), machine: &machine, group: &group)
            logger.debug("stopping: \(loop.inFlight) task(s) cancelled", metadata: ["community": "\(configuration.communityID)"])
        }
    }

    /// The machine as the database left it, after removing what an interrupted run left behind.
    private func resume(rescan: Bool) async throws -> CommunitySyncMachine {
        try FileManager.default.createDirectory(at: archivesDirectory, withIntermediateDirectories: true)
        let communityID = configuration.communityID.string
        let saved = try await database.resumeState(communityID: communityID, decoderRevision: ArchiveImporter.decoderRevision)
        // Download records of archives imported since (the import's transaction removes them
        // now; older runs did not) or whose file is gone.
        let stale = saved.downloaded.filter { saved.importedArchiveIDs.contains($0.id) || !FileManager.default.fileExists(atPath: $0.path) }
        for record in stale {
            logger.info("forgetting a stale download record", metadata: ["archive": "\(record.id)", "path": "\(record.path)"])
            try await database.removeDownloaded(archiveID: record.id)
        }
        ArchivesDirectorySweep(directory: archivesDirectory, logger: logger)
            .run(keeping: saved.allDownloadPaths.subtracting(stale.map(\.path)))
        // Once per process, before its first import: a sweep at every community's start took
        // the file another community's import was creating (issue 27).
        database.removeAbandonedStagingFilesOnce()
        var downloaded: [DownloadedArchive] = []
        for record in saved.downloaded where !stale.contains(where: { $0.id == record.id }) {
            // Written by this program from typed values; a row that does not parse is left for the sweep.
            guard let id = try? ArchiveID(record.id), let cid = try? CID(record.cid) else {
                logger.warning("ignoring an unreadable download record", metadata: ["archive": "\(record.id)", "cid": "\(record.cid)"])
                continue
            }
            // Topics that do not read cannot stand for the index entry's (an empty list would fail
            // the archive's metadata check and reject a good archive for good): the record is
            // forgotten and the archive downloaded again.
            let parsed = record.contentTopics.compactMap { (try? Hex.decode($0)).flatMap(ContentTopic.init(bytes:)) }
            guard !record.contentTopicsUnreadable, parsed.count == record.contentTopics.count else {
                logger.warning("a download record's content topics do not read; the archive is downloaded again",
                               metadata: ["archive": "\(record.id)"])
                onEvent(.recordFailed(what: "the download record of archive \(record.id)", error: "its content topics do not read; it is downloaded again"))
                try await database.removeDownloaded(archiveID: record.id)
                continue
            }
            downloaded.append(DownloadedArchive(entry: ArchiveIndexEntry(id: id, cid: cid, from: record.from, to: record.to, contentTopics: parsed),
                                                path: record.path))
        }
        let state = saved.indexState
        // A database from before v11 has no record of the index's archives (status's weeks):
        // the processed index is read once more, which records them (nothing is imported again).
        var rescan = rescan
        if state?.processedIndexCID != nil, try await !database.hasIndexEntries(communityID: communityID) { rescan = true }
        return CommunitySyncMachine(configuration: configuration, persisted: .init(
            clock: state?.indexClock ?? 0, indexCID: state?.indexCID.flatMap { try? CID($0) },
            processedIndexCID: rescan ? nil : state?.processedIndexCID.flatMap { try? CID($0) },
            processedSelection: state?.processedSelection.flatMap(ArchiveSelection.init(storageKey:)),
            imported: archiveIDs(saved.importedArchiveIDs), downloaded: downloaded,
            rejected: Dictionary(uniqueKeysWithValues: saved.rejected.compactMap { key, reason in archiveIDs([key]).first.map { ($0, reason) } })))
    }

    /// Archive IDs read back from the database (written from typed values); one that does not
    /// parse is logged and left out, as if it were not recorded.
    private func archiveIDs(_ stored: some Sequence<String>) -> Set<ArchiveID> {
        Set(stored.compactMap { text in
            do { return try ArchiveID(text) } catch {
                logger.warning("ignoring an unreadable archive ID in the database", metadata: ["archive": "\(text)"])
                return nil
            }
        })
    }
}

/// A child task's typed result, or an announcement, for the run loop.
enum DriverEvent: Sendable {
    case announcement(ArchiveAnnouncement)
    /// `timer` names the timer that fired: one replaced since is ignored.
    case timerFired(SyncTimer, timer: ObjectIdentifier)
    case indexFetched([ArchiveIndexEntry], generation: Int)
    case indexFailed(ArchiveFailure, generation: Int)
    case downloaded(DownloadedArchive, generation: Int)
    case downloadFailed(ArchiveIndexEntry, ArchiveFailure, generation: Int)
    /// A child cancelled before it had a result (a newer plan, a replaced timer).
    case cancelled
    /// An import's archive is verified and its rows are being written: not a result, the
    /// import goes on (its result comes as `imported` or `importFailed`).
    case importVerified(archiveID: ArchiveID)
    case imported(archiveID: ArchiveID)
    case importFailed(archiveID: ArchiveID, ArchiveFailure)
}

/// The run loop's state beside the machine: the tokens that cancel a generation's downloads
/// or the current timer, and how many children will still post a result.
struct DriverLoop {
    let driver: CommunitySyncDriver
    let post: AsyncStream<DriverEvent>.Continuation
    let onOutcome: @Sendable (SyncOutcome) -> Void
    private(set) var inFlight = 0
    /// Whether the outcome of the current idle stretch was given (a plan's, or `.nothingToDo`).
    private var idleReported = false
    private var timer: CancellationToken?
    /// Cancels a plan's index fetch and downloads, by generation.
    private var generations: [Int: CancellationToken] = [:]

    init(driver: CommunitySyncDriver, post: AsyncStream<DriverEvent>.Continuation, onOutcome: @escaping @Sendable (SyncOutcome) -> Void) {
        self.driver = driver
        self.post = post
        self.onOutcome = onOutcome
    }

    /// Says `.nothingToDo` when the driver has just fallen idle without a plan's outcome.
    mutating func reportIdle(_ machine: CommunitySyncMachine) {
        guard machine.isQuiescent && inFlight == 0 else {
            idleReported = false
            return
        }
        if !idleReported { onOutcome(.nothingToDo) }
        idleReported = true
    }

    mutating func handle(_ event: DriverEvent, machine: inout CommunitySyncMachine, group: inout DiscardingTaskGroup) async {
        let actions: [SyncAction]
        switch event {
        case .announcement(let announcement):
            actions = machine.announcementReceived(announcement)
        case .timerFired(_, let id) where timer.map(ObjectIdentifier.init) != id:
            // Replaced after it fired, before its event was handled: the newer timer counts.
            actions = []
        case .timerFired(.quietWindow, _):
            actions = machine.quietWindowElapsed()
        case .timerFired(.retry, _):
            actions = machine.retryDue()
        case .indexFetched(let entries, let generation):
            inFlight -= 1
            actions = machine.indexFetched(entries, generation: generation)
        case .indexFailed(let failure, let generation):
            inFlight -= 1
            actions = machine.indexFailed(failure, generation: generation)
        case .downloaded(let archive, let generation):
            inFlight -= 1
            actions = machine.downloadFinished(archive, generation: generation)
        case .downloadFailed(let entry, let failure, let generation):
            inFlight -= 1
            actions = machine.downloadFailed(entry, failure, generation: generation)
        case .cancelled:
            inFlight -= 1
            actions = []
        case .importVerified(let archiveID):
            actions = machine.importVerified(archiveID)
        case .imported(let archiveID):
            inFlight -= 1
            actions = machine.importFinished(archiveID)
        case .importFailed(let archiveID, let failure):
            inFlight -= 1
            actions = machine.importFailed(archiveID, failure)
        }
        if case .announcement = event {} else if actions.isEmpty {
            // A result the machine had no use for (an older plan's, or one after stopping): visible, not silent.
            driver.logger.debug("result ignored by the machine", metadata: ["event": "\(event)", "phase": "\(machine.phase)"])
        }
        await perform(actions, machine: &machine, group: &group)
    }

    /// The token of a plan's generation; older generations' tokens are dropped (their work has
    /// ended, or was cancelled when the newer plan began).
    private mutating func token(for generation: Int) -> CancellationToken {
        if let token = generations[generation] { return token }
        let token = CancellationToken()
        generations = generations.filter { $0.key > generation }
        generations[generation] = token
        return token
    }

    mutating func perform(_ actions: [SyncAction], machine: inout CommunitySyncMachine, group: inout DiscardingTaskGroup) async {
        for action in actions { await perform(action, machine: &machine, group: &group) }
    }

    private mutating func perform(_ action: SyncAction, machine: inout CommunitySyncMachine, group: inout DiscardingTaskGroup) async {
        let (driver, post) = (self.driver, self.post)
        switch action {
        case .persistAnnouncement(let clock, let cid):
            driver.onEvent(.announcementAccepted(clock: clock, indexCID: cid.string))
            await driver.persist("the accepted announcement") { state in
                state.indexClock = clock
                state.indexCID = cid.string
            }
        case .startTimer(let kind, let delay):
            driver.onEvent(.waiting(kind, delay: delay))
            timer?.cancel()
            let token = CancellationToken()
            timer = token
            let id = ObjectIdentifier(token)
            group.addTask {
                let elapsed = await run({ (try? await driver.clock.sleep(for: delay)) != nil }, until: token)
                if elapsed == true { post.yield(.timerFired(kind, timer: id)) }
            }
        case .cancelTimer:
            timer?.cancel()
            timer = nil
        case .fetchIndex(let cid, let generation):
            inFlight += 1
            let token = token(for: generation)
            group.addTask {
                post.yield(await run({ await driver.fetchIndex(cid, generation: generation) }, until: token) ?? .cancelled)
            }
        case .download(let entry, let generation):
            inFlight += 1
            let token = token(for: generation)
            group.addTask {
                post.yield(await run({ await driver.download(entry, generation: generation) }, until: token) ?? .cancelled)
            }
        case .cancelDownloads(let generation):
            generations.removeValue(forKey: generation)?.cancel()
        case .importArchive(let archive, _):
            inFlight += 1
            group.addTask {
                let id = archive.entry.id
                post.yield(await driver.importArchive(archive) { post.yield(.importVerified(archiveID: id)) })
            }
        case .markProcessed(let cid, let selection):
            await driver.persist("the processed index") { state in
                state.processedIndexCID = cid.string
                state.processedSelection = selection.storageKey
            }
        case .planned(let archives, let knownBad):
            driver.onEvent(.planned(archives: archives, knownBad: knownBad))
        case .ignored(let reason):
            driver.onEvent(.announcementIgnored(reason))
        case .finished(let outcome):
            var error: String?
            if case .failed(let failure) = outcome { error = failure.description }
            await driver.write("the plan's outcome") { try await driver.database.recordOutcome(communityID: driver.configuration.communityID.string, error: error) }
            driver.onEvent(.finished(outcome))
            onOutcome(outcome)
            idleReported = true
        }
    }
}

// MARK: - Work (runs in child tasks, returns results to the loop)

extension CommunitySyncDriver {
    func fetchIndex(_ cid: CID, generation: Int) async -> DriverEvent {
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
            // Under one of the agent's download permits, like an archive: 200 communities
            // starting at once do not open 200 index downloads.
            let download = try await (budget?.downloads).withPermit { try await codex.downloadReportingLayout(cid, to: file, manifest: manifest) }
            // Which storage node generation wrote the community's CIDs (Logos Storage or Codex).
            logger.info("index verified", metadata: ["cid": "\(cid)", "manifestLayout": "\(download.layout)",
                                                     "api": "\(codex.discoveredPrefix?.rawValue ?? "?")"])
        } catch {
            // Cancelled by stopping: not a failure of the node, nothing to report or back off from.
            if Task.isCancelled { return .cancelled }
            return indexFailed(cid, ArchiveFailure(.ofFetch(error), "\(error)"), generation: generation)
        }
        defer { remove(file, what: "the downloaded index") }
        let index: ArchiveIndex
        do {
            index = try ArchiveIndex(bytes: [UInt8](try Data(contentsOf: file)), limits: importOptions.limits, keys: importOptions.keys)
        } catch ArchiveDecodingError.waitingForKey(_, let key) {
            // An encrypted community's index, with a key not imported yet: recorded, not retried.
            await waitForKey(.index, item: cid.string, key)
            return indexFailed(cid, ArchiveFailure(.waitingForKey, "index: waiting for key \(key.keyID) of group \(key.groupID)"),
                               generation: generation)
        } catch {
            return indexFailed(cid, ArchiveFailure(.ofIndexDecoding(error), "\(error)"), generation: generation)
        }
        await write("the end of the index's wait for a key") {
            try await database.clearIndexKeyWaits(communityID: configuration.communityID.string)
        }
        onEvent(.indexDownloaded(indexCID: cid.string, archives: index.entries.count, rejectedEntries: index.rejected.count))
        // What the index lists, for `status`'s week-by-week coverage.
        let listed = index.entries.map { IndexEntryRecord(archiveID: $0.id.string, cid: $0.cid.string, from: $0.from, to: $0.to) }
        await write("the index's archive list") {
            try await database.saveIndexEntries(communityID: configuration.communityID.string, indexCID: cid.string, entries: listed)
        }
        // A few lines, then a count: an index far over the entry limit refuses thousands.
        for bad in index.rejected.prefix(10) {
            logger.warning("index entry rejected", metadata: ["key": "\(bad.key)", "reason": "\(bad.reason)"])
        }
        if index.rejected.count > 10 {
            logger.warning("index entries rejected", metadata: ["count": "\(index.rejected.count)", "logged": "10"])
        }
        return .indexFetched(index.entries, generation: generation)
    }

    private func indexFailed(_ cid: CID, _ failure: ArchiveFailure, generation: Int) -> DriverEvent {
        logger.warning("index fetch failed", metadata: ["cid": "\(cid)", "kind": "\(failure.kind.rawValue)", "error": "\(failure.reason)"])
        return .indexFailed(failure, generation: generation)
    }

    func download(_ entry: ArchiveIndexEntry, generation: Int) async -> DriverEvent {
        do {
            // Waits (without a thread) for one of the agent's download permits.
            return try await (budget?.downloads).withPermit { await downloadNow(entry, generation: generation) }
        } catch {
            return .cancelled  // only a cancelled wait throws
        }
    }

    private func downloadNow(_ entry: ArchiveIndexEntry, generation: Int) async -> DriverEvent {
        let destination = archivesDirectory.appendingPathComponent(entry.cid.string)
        do {
            try FileManager.default.createDirectory(at: archivesDirectory, withIntermediateDirectories: true)
            onEvent(.downloadStarted(archiveID: entry.id, cid: entry.cid.string))
            let manifest = try await codex.manifest(entry.cid)
            let total = manifest.manifest.datasetSize
            let reservation = try diskReservations.reserve(total, margin: diskMarginBytes, at: archivesDirectory,
                                                           for: "archive \(entry.id.string.prefix(18))…")
            defer { reservation.release() }
            let steps = SharedProgressSteps(total: total)
            let onEvent = self.onEvent
            let bytes = try await codex.download(entry.cid, to: destination, manifest: manifest, pacer: bandwidth) { received in
                if steps.advance(to: received) { onEvent(.downloadProgress(archiveID: entry.id, bytes: received, totalBytes: total)) }
            }
            onEvent(.archiveDownloaded(archiveID: entry.id, from: entry.from, to: entry.to, bytes: bytes))
            try await database.recordDownloaded(DownloadedArchiveRecord(
                id: entry.id.string, communityID: configuration.communityID.string, cid: entry.cid.string, path: destination.path,
                from: entry.from, to: entry.to, contentTopics: entry.contentTopics.map { Hex.encode($0.bytes, prefixed: true) }))
            return .downloaded(DownloadedArchive(entry: entry, path: destination.path), generation: generation)
        } catch {
            if Task.isCancelled { return .cancelled }
            // Most download failures are the node's and may heal; a Codex answer that says the
            // dataset can never be checked here (erasure-coded) will not.
            let failure = ArchiveFailure(HistoryStoreError.isDatabaseFailure(error) ? .database : .ofFetch(error), "download: \(error)")
            logger.warning("archive download failed", metadata: ["archive": "\(entry.id)", "kind": "\(failure.kind.rawValue)", "error": "\(error)"])
            await recordFailure(entry.id, failure)
            return .downloadFailed(entry, failure, generation: generation)
        }
    }

    /// Imports one downloaded archive; `verified` is called once its messages are verified
    /// and its rows are being written.
    func importArchive(_ archive: DownloadedArchive, verified: @escaping @Sendable () -> Void = {}) async -> DriverEvent {
        let id = archive.entry.id
        onEvent(.importingArchive(archiveID: id))
        let onEvent = self.onEvent
        do {
            // One of the agent's import permits: its scratch database, threads and writer turn.
            let imported = try await (budget?.imports).withPermit {
                try await importer.importArchive(archive.entry, path: archive.path, options: importOptions, verified: verified) { entries in
                    onEvent(.importProgress(archiveID: id, entries: entries))
                }
            }
            // The import's transaction removed the download record; the file goes now (or at the next start).
            remove(URL(fileURLWithPath: archive.path), what: "an imported archive's file")
            onEvent(.archiveImported(imported))
            // Messages it held for a key: if the ring has the key now (keys imported while it was
            // being decoded), they are stored at once rather than at the next key import.
            if imported.rejected[RejectionReason.encryptedKeyUnavailable.rawValue] != nil, let keys = importOptions.keys, !keys.keyIDs.isEmpty {
                await releaseHeldMessages(keys)
            }
            return .imported(archiveID: id)
        } catch {
            if Task.isCancelled {
                // Rolled back by stopping: the file stays recorded and the next start imports it.
                logger.info("import rolled back for shutdown", metadata: ["archive": "\(id)"])
                return .cancelled
            }
            return await importFailed(archive, error)
        }
    }

    /// Classifies a failed import by type (`ImportFailureDecision`), cleans up accordingly and
    /// records the failure.
    private func importFailed(_ archive: DownloadedArchive, _ error: any Error) async -> DriverEvent {
        let id = archive.entry.id
        let decoding = error as? ArchiveDecodingError
        if case HistoryStoreError.alreadyImported = error {
            await forget(archive)
            return .imported(archiveID: id)
        } else if case .waitingForKey(_, let key)? = decoding {
            // Encrypted with a key not imported yet: the file and its download record stay, so
            // the import needs no new download once the key comes. Not a failure, not retried.
            logger.info("archive waits for a key", metadata: ["archive": "\(id)", "keyID": "\(key.keyID)", "groupID": "\(key.groupID)"])
            await waitForKey(.archive, item: id.string, key)
            return .importFailed(archiveID: id, ArchiveFailure(.waitingForKey, "import: waiting for key \(key.keyID) of group \(key.groupID)"))
        }
        let decision = await ImportFailureDecision.decide(error) { await Self.checkAgainstItsCID(archive) }
        let failure = ArchiveFailure(decision.kind, "import: \(error)" + (decision.note.map { "; \($0)" } ?? ""))
        switch decision.kind {
        case .rejected, .overLimit: logger.warning("archive not imported", metadata: ["archive": "\(id)", "kind": "\(decision.kind)", "reason": "\(failure.reason)"])
        default: logger.error("archive import failed", metadata: ["archive": "\(id)", "kind": "\(decision.kind)", "error": "\(failure.reason)"])
        }
        if decision.forgetDownload { await forget(archive) }
        await recordFailure(id, failure)
        return .importFailed(archiveID: id, failure)
    }

    /// Reads the downloaded file again and hashes it as a storage node would, off the
    /// cooperative pool (it reads the whole file).
    static func checkAgainstItsCID(_ archive: DownloadedArchive) async -> CIDCheck {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let address = try CID.codex(ofFileAt: archive.path, .statusArchive)
                    continuation.resume(returning: address.layout(matching: archive.entry.cid) != nil ? .matches : .differs)
                } catch CodexDatasetError.empty {
                    continuation.resume(returning: .differs)
                } catch {
                    continuation.resume(returning: .unreadable("\(error)"))
                }
            }
        }
    }

    // MARK: - Persistence (awaited; a failure is logged and reported, never dropped)

    /// A rejected archive is recorded with the decoder revision that found it bad: it is not
    /// downloaded again while that revision decodes.
    func recordFailure(_ archiveID: ArchiveID, _ failure: ArchiveFailure) async {
        let disposition: ArchiveFailureDisposition
        switch failure.kind {
        case .rejected: disposition = .rejected(decoderRevision: ArchiveImporter.decoderRevision)
        case .overLimit: disposition = .overLimit
        case .peerUnreachable, .download, .database, .unreadableFile, .localDisk, .localResources: disposition = .retrying
        case .waitingForKey:
            // Recorded as a key wait (`waitForKey`), not as a failure.
            return
        }
        await write("an archive failure") {
            try await database.recordFailure(archiveID: archiveID.string, communityID: configuration.communityID.string,
                                             reason: failure.reason, disposition: disposition)
        }
        onEvent(.archiveFailed(archiveID: archiveID, failure: failure))
    }

    /// Stores the community's messages held for keys the ring holds; a failure is logged and
    /// reported (the next key import or sync releases them).
    func releaseHeldMessages(_ keys: any HashRatchetKeyring) async {
        do {
            let released = try await HeldMessageRelease(database: database, keys: keys, communityID: configuration.communityID.string).run()
            if released.archives > 0 {
                onEvent(.heldMessagesReleased(archives: released.archives, stored: released.stored, replaced: released.replaced))
            }
        } catch {
            logger.warning("held messages were not stored", metadata: ["error": "\(error)"])
            onEvent(.recordFailed(what: "the messages held for a key", error: "\(error)"))
        }
    }

    /// Records what waits for which key (for `status` and the API) and says so.
    func waitForKey(_ kind: KeyWait.Kind, item: String, _ key: HashRatchetKeyReference) async {
        let wait = KeyWait(communityID: configuration.communityID.string, kind: kind, item: item, groupID: key.groupID,
                           keyID: key.keyID, since: Int64(Date().timeIntervalSince1970 * 1000))
        await write("what waits for a key") { try await database.recordKeyWait(wait) }
        onEvent(.waitingForKey(wait))
    }

    func persist(_ what: String, _ change: @escaping @Sendable (inout CommunityIndexState) -> Void) async {
        await write(what) { try await database.updateIndexState(communityID: configuration.communityID.string, change) }
    }

    /// Runs a database write; a failure is logged and reported as an event (metrics count it),
    /// and the sync goes on: what it failed to record is redone or re-derived by the next start.
    func write(_ what: String, _ work: () async throws -> Void) async {
        do { try await work() } catch {
            if Task.isCancelled { return }
            logger.error("cannot record \(what)", metadata: ["error": "\(error)"])
            onEvent(.recordFailed(what: what, error: "\(error)"))
        }
    }

    /// Removes an archive's download record and its file.
    private func forget(_ archive: DownloadedArchive) async {
        await write("the removal of a download record") { try await database.removeDownloaded(archiveID: archive.entry.id.string) }
        remove(URL(fileURLWithPath: archive.path), what: "a downloaded archive")
    }

    /// Removes a file; one that stays is only disk space, which the next start's sweep reclaims.
    func remove(_ file: URL, what: String) {
        do { try FileManager.default.removeItem(at: file) } catch CocoaError.fileNoSuchFile {
        } catch {
            logger.warning("cannot remove \(what); the next start removes it", metadata: ["path": "\(file.path)", "error": "\(error)"])
        }
    }
}
