import ArchiveImport
import CodexClient
import Foundation
import HistoryStore
import StatusCrypto
import StatusWire

extension LiveSyncEffects {
    public func fetchIndex(_ cid: CID) async -> WorkResult<[ArchiveIndexEntry]> {
        let file = archivesDirectory.appendingPathComponent("index-\(cid.string)")
        do {
            // Made again if someone removed it since start (downloads would fail forever otherwise).
            try FileManager.default.createDirectory(at: archivesDirectory, withIntermediateDirectories: true)
            // The index is read whole into memory: refuse one larger than an archive may be before
            // a byte of it is downloaded (the download then stops at the manifest's size).
            let manifest = try await codex.manifest(cid)
            guard manifest.manifest.datasetSize <= Int64(importOptions.limits.maxInflatedBytes) else {
                let limit = ArchiveDecodingError.inflatedSizeExceeded(limit: importOptions.limits.maxInflatedBytes)
                return indexFailed(cid, ArchiveFailure(.overLimit, step: .index, "\(limit)"))
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
            return indexFailed(cid, ArchiveFailure(.ofFetch(error), step: .index, "\(error)"))
        }
        defer { remove(file, what: "the downloaded index") }
        let index: ArchiveIndex
        do {
            index = try ArchiveIndex(bytes: [UInt8](try Data(contentsOf: file)), limits: importOptions.limits, keys: importOptions.keys)
        } catch ArchiveDecodingError.waitingForKey(_, let key) {
            // An encrypted community's index, with a key not imported yet: recorded, not retried.
            await waitForKey(.index, item: cid.string, key)
            return indexFailed(cid, ArchiveFailure(.waitingForKey, step: .index, "waiting for key \(key.keyID) of group \(key.groupID)"))
        } catch {
            return indexFailed(cid, ArchiveFailure(.ofIndexDecoding(error), step: .index, "\(error)",
                                                   rejection: (error as? ArchiveDecodingError)?.rejection))
        }
        await write("the end of the index's wait for a key") {
            try await database.clearIndexKeyWaits(communityID: communityID.string)
        }
        onEvent(.indexDownloaded(indexCID: cid.string, archives: index.entries.count, rejectedEntries: index.rejected.count))
        // What the index lists, for `status`'s week-by-week coverage.
        let listed = index.entries.map { IndexEntryRecord(archiveID: $0.id.string, cid: $0.cid.string, from: $0.from, to: $0.to) }
        await write("the index's archive list") {
            try await database.saveIndexEntries(communityID: communityID.string, indexCID: cid.string, entries: listed)
        }
        // A few lines, then a count: an index far over the entry limit refuses thousands.
        for bad in index.rejected.prefix(10) {
            logger.warning("index entry rejected", metadata: ["key": "\(bad.key)", "reason": "\(bad.reason)"])
        }
        if index.rejected.count > 10 {
            logger.warning("index entries rejected", metadata: ["count": "\(index.rejected.count)", "logged": "10"])
        }
        return .succeeded(index.entries)
    }

    private func indexFailed(_ cid: CID, _ failure: ArchiveFailure) -> WorkResult<[ArchiveIndexEntry]> {
        logger.warning("index fetch failed", metadata: ["cid": "\(cid)", "kind": "\(failure.kind.rawValue)", "error": "\(failure.reason)"])
        return .failed(failure)
    }

    public func download(_ entry: ArchiveIndexEntry) async -> WorkResult<DownloadedArchive> {
        do {
            // Waits (without a thread) for one of the agent's download permits.
            return try await (budget?.downloads).withPermit { await downloadNow(entry) }
        } catch {
            return .cancelled  // only a cancelled wait throws
        }
    }

    private func downloadNow(_ entry: ArchiveIndexEntry) async -> WorkResult<DownloadedArchive> {
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
            try await database.recordDownloaded(DownloadedArchiveRecord(entry, communityID: communityID.string, path: destination.path))
            return .succeeded(DownloadedArchive(entry: entry, path: destination.path))
        } catch {
            if Task.isCancelled { return .cancelled }
            // Most download failures are the node's and may heal; a Codex answer that says the
            // dataset can never be checked here (erasure-coded) will not.
            let failure = DatabaseFailure(error).map { .database($0, step: .download, error) }
                ?? ArchiveFailure(.ofFetch(error), step: .download, "\(error)", rejection: .ofFetch(error))
            logger.warning("archive download failed", metadata: ["archive": "\(entry.id)", "kind": "\(failure.kind.rawValue)", "error": "\(error)"])
            await recordFailure(entry.id, failure)
            return .failed(failure)
        }
    }
}
