import ArchiveImport
import CodexClient
import Foundation
import HistoryStore
import Logging
import StatusCrypto
import StatusWire

/// The driver's effects on the real world: the storage node (`CodexClient`), the importer, the
/// history database and the archives directory, shared budgets of the process, and a listener
/// for events. The work itself is in `+Resume`, `+Fetch` and `+Import`; this file holds what
/// they record.
public struct LiveSyncEffects: SyncEffects {
    let communityID: CommunityID
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
    public let logger: Logger
    let onEvent: @Sendable (SyncEvent) -> Void

    public init(
        communityID: CommunityID, database: HistoryDatabase, codex: CodexClient, archivesDirectory: URL,
        importOptions: ArchiveImportOptions = .init(), clock: any Clock<Duration> = ContinuousClock(),
        diskMarginBytes: Int64 = 100 << 20, diskReservations: DiskReservations = DiskReservations(), bandwidth: BandwidthLimiter? = nil,
        budget: WorkBudget? = nil,
        logger: Logger = Logger(label: "community-history.sync"), onEvent: @escaping @Sendable (SyncEvent) -> Void = { _ in }
    ) {
        self.communityID = communityID
        self.database = database
        self.codex = codex
        self.importer = ArchiveImporter(database: database, communityID: communityID)
        self.importOptions = importOptions
        self.archivesDirectory = archivesDirectory
        self.clock = clock
        self.diskMarginBytes = diskMarginBytes
        self.diskReservations = diskReservations
        self.bandwidth = bandwidth
        self.budget = budget
        self.logger = logger
        self.onEvent = onEvent
    }

    public func sleep(for delay: Duration) async throws {
        try await clock.sleep(for: delay)
    }

    public func report(_ event: SyncEvent) {
        onEvent(event)
    }

    // MARK: - Records (awaited; a failure is logged and reported, never dropped)

    public func saveAnnouncement(clock: UInt64, indexCID: CID) async {
        await persist("the accepted announcement") { state in
            state.indexClock = clock
            state.indexCID = indexCID.string
        }
    }

    public func markProcessed(_ cid: CID, selection: ArchiveSelection) async {
        await persist("the processed index") { state in
            state.processedIndexCID = cid.string
            state.processedSelection = selection.storageKey
        }
    }

    public func recordOutcome(_ outcome: SyncOutcome) async {
        var error: String?
        if case .failed(let failure) = outcome { error = failure.description }
        await write("the plan's outcome") { try await database.recordOutcome(communityID: communityID.string, error: error) }
    }

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
            try await database.recordFailure(archiveID: archiveID.string, communityID: communityID.string,
                                             reason: failure.reason, disposition: disposition)
        }
        onEvent(.archiveFailed(archiveID: archiveID, failure: failure))
    }

    /// Stores the community's messages held for keys the ring holds; a failure is logged and
    /// reported (the next key import or sync releases them).
    func releaseHeldMessages(_ keys: any HashRatchetKeyring) async {
        await HeldMessageRelease(database: database, keys: keys, communityID: communityID.string).runReporting(logger: logger, report: onEvent)
    }

    /// Records what waits for which key (for `status` and the API) and says so.
    func waitForKey(_ kind: KeyWait.Kind, item: String, _ key: HashRatchetKeyReference) async {
        let wait = KeyWait(communityID: communityID.string, kind: kind, item: item, groupID: key.groupID,
                           keyID: key.keyID, since: Int64(Date().timeIntervalSince1970 * 1000))
        await write("what waits for a key") { try await database.recordKeyWait(wait) }
        onEvent(.waitingForKey(wait))
    }

    private func persist(_ what: String, _ change: @escaping @Sendable (inout CommunityIndexState) -> Void) async {
        await write(what) { try await database.updateIndexState(communityID: communityID.string, change) }
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
    func forget(_ archive: DownloadedArchive) async {
        await write("the removal of a download record") { try await database.removeDownloaded(archiveID: archive.entry.id) }
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

extension CommunitySyncDriver {
    /// A driver on the real storage node, importer and database (`LiveSyncEffects`).
    public init(
        configuration: CommunitySyncMachine.Configuration, database: HistoryDatabase, codex: CodexClient,
        archivesDirectory: URL, importOptions: ArchiveImportOptions = .init(), clock: any Clock<Duration> = ContinuousClock(),
        diskMarginBytes: Int64 = 100 << 20, diskReservations: DiskReservations = DiskReservations(), bandwidth: BandwidthLimiter? = nil,
        budget: WorkBudget? = nil,
        logger: Logger = Logger(label: "community-history.sync"), onEvent: @escaping @Sendable (SyncEvent) -> Void = { _ in }
    ) {
        self.init(configuration: configuration, effects: LiveSyncEffects(
            communityID: configuration.communityID, database: database, codex: codex, archivesDirectory: archivesDirectory,
            importOptions: importOptions, clock: clock, diskMarginBytes: diskMarginBytes, diskReservations: diskReservations,
            bandwidth: bandwidth, budget: budget, logger: logger, onEvent: onEvent))
    }
}
