import ArchiveImport
import Foundation
import HistoryStore
import StatusWire

extension LiveSyncEffects {
    public func importArchive(_ archive: DownloadedArchive, verified: @escaping @Sendable () -> Void) async -> WorkResult<Void> {
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
            if imported.rejected[.encryptedKeyUnavailable] != nil, let keys = importOptions.keys, !keys.keyIDs.isEmpty {
                await releaseHeldMessages(keys)
            }
            return .succeeded(())
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
    private func importFailed(_ archive: DownloadedArchive, _ error: any Error) async -> WorkResult<Void> {
        let id = archive.entry.id
        let decoding = error as? ArchiveDecodingError
        if case HistoryStoreError.alreadyImported = error {
            await forget(archive)
            return .succeeded(())
        } else if case .waitingForKey(_, let key)? = decoding {
            // Encrypted with a key not imported yet: the file and its download record stay, so
            // the import needs no new download once the key comes. Not a failure, not retried.
            logger.info("archive waits for a key", metadata: ["archive": "\(id)", "keyID": "\(key.keyID)", "groupID": "\(key.groupID)"])
            await waitForKey(.archive, item: id.string, key)
            return .failed(ArchiveFailure(.waitingForKey, "import: waiting for key \(key.keyID) of group \(key.groupID)"))
        }
        let decision = await ImportFailureDecision.decide(error) { await Self.checkAgainstItsCID(archive) }
        let failure = decision.database.map { .database($0, "import", error) }
            ?? ArchiveFailure(decision.kind, "import: \(error)" + (decision.note.map { "; \($0)" } ?? ""))
        switch decision.kind {
        case .rejected, .overLimit: logger.warning("archive not imported", metadata: ["archive": "\(id)", "kind": "\(decision.kind)", "reason": "\(failure.reason)"])
        default: logger.error("archive import failed", metadata: ["archive": "\(id)", "kind": "\(decision.kind)", "error": "\(failure.reason)"])
        }
        if decision.forgetDownload { await forget(archive) }
        await recordFailure(id, failure)
        return .failed(failure)
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
}
