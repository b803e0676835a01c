import ArchiveImport
import Foundation
import HistoryStore
import StatusWire

extension LiveSyncEffects {
    public func importArchive(_ archive: DownloadedArchive, verified: @escaping @Sendable () -> Void) async -> WorkResult<Void> {
        let id = archive.entry.id
        onEvent(.importingArchive(archiveID: id))
        let onEvent = self.onEvent
        // One of the agent's import permits: its scratch database, threads and writer turn.
        let imported: ArchiveImportResult
        do {
            imported = try await (budget?.imports).withPermit {
                try await importer.importArchive(archive.entry, path: archive.path, options: importOptions, verified: verified) { entries in
                    onEvent(.importProgress(archiveID: id, entries: entries))
                }
            }
        } catch let failure as ArchiveImportFailure {
            return await importFailed(archive, failure)
        } catch {
            // Only a wait for a permit that was cancelled throws anything else.
            return await importFailed(archive, .cancelled)
        }
        // The import's transaction removed the download record; the file goes now (or at the next start).
        remove(URL(fileURLWithPath: archive.path), what: "an imported archive's file")
        onEvent(.archiveImported(imported))
        // Messages it held for a key: if the ring has the key now (keys imported while it was
        // being decoded), they are stored at once rather than at the next key import.
        if imported.rejected[.encryptedKeyUnavailable] != nil, let keys = importOptions.keys, !keys.keyIDs.isEmpty {
            await releaseHeldMessages(keys)
        }
        return .succeeded(())
    }

    /// Acts on an import's typed failure: what happens to the file is the failure's
    /// (`keepsDownload`); the failure is recorded and handed to the machine.
    private func importFailed(_ archive: DownloadedArchive, _ failure: ArchiveImportFailure) async -> WorkResult<Void> {
        let id = archive.entry.id
        switch failure {
        case .cancelled:
            // Rolled back by stopping: the file stays recorded and the next start imports it.
            logger.info("import rolled back for shutdown", metadata: ["archive": "\(id)"])
            return .cancelled
        case .alreadyImported:
            await forget(archive)
            return .succeeded(())
        case .waitingForKey(let key):
            // The file and its download record stay, so the import needs no new download once
            // the key comes. Not a failure, not retried.
            logger.info("archive waits for a key", metadata: ["archive": "\(id)", "keyID": "\(key.keyID)", "groupID": "\(key.groupID)"])
            await waitForKey(.archive, item: id.string, key)
            return .failed(ArchiveFailure(importing: failure))
        case .rejected, .overLimit, .unreadableFile, .localResources, .database:
            let recorded = ArchiveFailure(importing: failure)
            switch recorded.kind {
            case .rejected, .overLimit: logger.warning("archive not imported", metadata: ["archive": "\(id)", "kind": "\(recorded.kind)", "reason": "\(recorded.reason)"])
            default: logger.error("archive import failed", metadata: ["archive": "\(id)", "kind": "\(recorded.kind)", "error": "\(recorded.reason)"])
            }
            if !failure.keepsDownload { await forget(archive) }
            await recordFailure(id, recorded)
            return .failed(recorded)
        }
    }
}
