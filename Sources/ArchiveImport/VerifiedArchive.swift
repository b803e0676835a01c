import Foundation
import HistoryStore
import StatusWire

/// An archive decoded and verified whole, held in memory: what `benchmark apply` needs to time
/// the apply step alone, the one step of an import that cannot run in parallel and so bounds
/// it on any number of cores (issue 28). An import proper never holds an archive's rows: it
/// hands them to the apply step a chunk at a time (`HistoryDatabase.hydrate`).
///
/// ```swift
/// let verified = try await importer.verifiedArchive(entry, path: path)   // decode + verify
/// let counts = try await importer.apply(verified)                        // the apply step
/// ```
public struct VerifiedArchive: Sendable {
    public var entry: ArchiveIndexEntry
    /// The rows an import would write, in archive order.
    public var rows: [StoredMessage]
    public var summary: ArchiveContentSummary
}

extension ArchiveImporter {
    /// Decodes and verifies the plaintext archive at `path` (raw, zlib or gzip) into memory,
    /// with `options.verificationWorkers` threads, off Swift's cooperative pool. Throws
    /// `ArchiveDecodingError` (an encrypted archive included: this is for measuring, and the
    /// benchmarks' archives are plaintext) and `VerificationError`s as an import would.
    public func verifiedArchive(_ entry: ArchiveIndexEntry, path: String, options: ArchiveImportOptions = .init()) async throws -> VerifiedArchive {
        try await offCooperativePool {
            var rows: [StoredMessage] = []
            let decoded = try decode(entry, into: { rows.append($0) }, options: options, progress: { _ in }) { try FileByteSource(path: path) }
            return VerifiedArchive(entry: entry, rows: rows, summary: decoded.summary)
        }
    }

    /// Writes `archive`'s rows as an import does (the same chunks, pauses, checkpoints and last
    /// transaction), the reading side only handing them over. Throws what `HistoryDatabase.hydrate` throws.
    public func apply(_ archive: VerifiedArchive, options: ArchiveImportOptions = .init()) async throws -> HydrationCounts {
        let record = ArchiveRecord(id: archive.entry.id.string, communityID: communityID.string, cid: archive.entry.cid.string)
        let rows = archive.rows
        let summary = archive.summary
        return try await database.hydrate(archive: record, mode: options.mode, force: options.force) { writer in
            for row in rows { try writer.write(row) }
            return summary
        }
    }
}
