import ArchiveImport
import Foundation
import HistoryStore
import StatusCrypto
import StatusWire

extension LiveSyncEffects {
    public func resume(rescan: Bool) async throws -> CommunitySyncMachine.Persisted {
        try FileManager.default.createDirectory(at: archivesDirectory, withIntermediateDirectories: true)
        let communityID = communityID.string
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
        return CommunitySyncMachine.Persisted(
            clock: state?.indexClock ?? 0, indexCID: state?.indexCID.flatMap { try? CID($0) },
            processedIndexCID: rescan ? nil : state?.processedIndexCID.flatMap { try? CID($0) },
            processedSelection: state?.processedSelection.flatMap(ArchiveSelection.init(storageKey:)),
            imported: archiveIDs(saved.importedArchiveIDs), downloaded: downloaded,
            rejected: Dictionary(uniqueKeysWithValues: saved.rejected.compactMap { key, reason in
                archiveIDs([key]).first.map { ($0, ArchiveFailure(.rejected, reason)) }
            }))
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
