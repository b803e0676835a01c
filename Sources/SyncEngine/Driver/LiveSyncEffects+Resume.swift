import ArchiveImport
import Foundation
import HistoryStore
import StatusCrypto
import StatusWire

extension LiveSyncEffects {
    public func resume(rescan: Bool) async throws -> CommunitySyncMachine.Persisted {
        try await (budget?.starts).withPermit { try await resumeNow(rescan: rescan) }
    }

    private func resumeNow(rescan: Bool) async throws -> CommunitySyncMachine.Persisted {
        try FileManager.default.createDirectory(at: archivesDirectory, withIntermediateDirectories: true)
        let saved = try await database.resumeState(communityID: communityID.string, decoderRevision: ArchiveImporter.decoderRevision)
        await report(saved.unreadable)
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
        let downloaded = saved.downloaded.filter { record in !stale.contains { $0.id == record.id } }
            .map { DownloadedArchive(entry: $0.entry, path: $0.path) }
        // A database from before v11 has no record of the index's archives (status's weeks):
        // the processed index is read once more, which records them (nothing is imported again).
        var rescan = rescan
        if saved.processedIndexCID != nil, try await !database.hasIndexEntries(communityID: communityID.string) { rescan = true }
        // An index processed with archives waiting for a key: read again once a waited key is
        // held (imported while this community's sync was not running); otherwise not at all.
        if saved.processedIndexCID != nil, !rescan, try await waitedKeyIsHeld() { rescan = true }
        return CommunitySyncMachine.Persisted(
            clock: saved.indexClock, indexCID: saved.indexCID,
            processedIndexCID: rescan ? nil : saved.processedIndexCID,
            processedSelection: saved.processedSelection.flatMap(ArchiveSelection.init(storageKey:)),
            imported: saved.importedArchiveIDs, downloaded: downloaded,
            rejected: saved.rejected.mapValues { ArchiveFailure(.rejected, $0) })
    }

    /// Whether the member now holds a key an archive of this community waits for (messages
    /// held for a key are released by `HeldMessageRelease`, without the index).
    private func waitedKeyIsHeld() async throws -> Bool {
        guard let held = importOptions.keys?.keyIDs.map({ $0.lowercased() }), !held.isEmpty else { return false }
        let waits = try await database.keyWaits(communityID: communityID.string)
        return waits.contains { $0.kind != .messages && held.contains($0.keyID.lowercased()) }
    }

    /// Reports each row that did not read back (a damaged database). A download whose record
    /// does not read is forgotten: its topics cannot stand for the index entry's (an empty list
    /// would fail the archive's metadata check and reject a good archive for good), so the
    /// archive is downloaded again. Any other such row is left out, as if not recorded.
    private func report(_ unreadable: [UnreadableRecord]) async {
        for row in unreadable {
            logger.warning("a stored row does not read; left out", metadata: ["table": "\(row.table.rawValue)", "key": "\(row.key)", "error": "\(row.error)"])
            onEvent(.recordFailed(what: "the \(row.table.rawValue) row \(row.key)", error: "it does not read (\(row.error)); it is left out"))
            if row.table == .downloadedArchive {
                await write("the removal of an unreadable download record") { try await database.removeDownloaded(storedID: row.key) }
            }
        }
    }
}
