import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// How an archive's messages meet what is already stored.
public enum HydrationMode: String, Sendable, Codable, CaseIterable {
    /// The spec's canonical history: archive messages replace local copies with the same
    /// ID, and local copies in the archive's time range and topics that the archive does
    /// not contain are removed.
    case replace
    /// status-go's behaviour: add what is missing, change and delete nothing.
    case merge
}

/// What the store needs to know of an archive before decoding it.
public struct ArchiveRecord: Sendable, Hashable {
    public var id: String
    public var communityID: String
    public var cid: String

    public init(id: String, communityID: String, cid: String) {
        self.id = id
        self.communityID = communityID
        self.cid = cid
    }
}

/// What decoding found, handed back by the hydration body at the end.
public struct ArchiveContentSummary: Sendable {
    /// Unix seconds, `[from, to)`.
    public var from: UInt64
    public var to: UInt64
    /// `/waku/1/0x…/rfc26` strings.
    public var contentTopics: [String]
    /// Archived entries read, stored or not.
    public var entryCount: Int
    /// Messages not stored, by reason.
    public var rejections: [String: Int]
    /// Encrypted messages whose key the member does not hold: kept, raw, with the archive (in
    /// the transaction that publishes it) until the key comes (`HeldMessages`).
    public var held: [HeldMessage]

    public init(from: UInt64, to: UInt64, contentTopics: [String], entryCount: Int, rejections: [String: Int], held: [HeldMessage] = []) {
        self.from = from
        self.to = to
        self.contentTopics = contentTopics
        self.entryCount = entryCount
        self.rejections = rejections
        self.held = held
    }
}

/// What one archive's hydration changed.
public struct HydrationCounts: Sendable, Equatable, Codable {
    /// New messages.
    public var stored = 0
    /// Local copies overwritten by the archive's version.
    public var replaced = 0
    /// Already stored from an archive (or, in merge mode, already stored at all).
    public var unchanged = 0
    /// Local copies in the archive's range that the archive does not contain.
    public var removed = 0

    public init(stored: Int = 0, replaced: Int = 0, unchanged: Int = 0, removed: Int = 0) {
        self.stored = stored
        self.replaced = replaced
        self.unchanged = unchanged
        self.removed = removed
    }

    public static func += (lhs: inout HydrationCounts, rhs: HydrationCounts) {
        lhs.stored += rhs.stored
        lhs.replaced += rhs.replaced
        lhs.unchanged += rhs.unchanged
        lhs.removed += rhs.removed
    }
}

/// Hands one archive's messages to the import's apply thread, a chunk at a time
/// (`ImportHandoff`). Only valid inside the `hydrate` body that handed it out. Nothing is decided
/// here: which rows are new, replace a local copy or belong to another archive is settled when
/// the apply thread writes them.
public final class ArchiveHydrationWriter {
    private let chunkRows: Int
    private let handoff: ImportHandoff
    private var chunk: [StoredMessage] = []
    /// Messages handed over or in the chunk being filled.
    private(set) var written: Int64 = 0

    /// Every this many messages the writer checks whether the import was asked to stop (its
    /// task cancelled, or the apply thread failed), and throws `CancellationError` then.
    static let cancellationCheckInterval: Int64 = 256

    init(chunkRows: Int64, handoff: ImportHandoff) {
        self.chunkRows = Int(chunkRows)
        self.handoff = handoff
        chunk.reserveCapacity(self.chunkRows)
    }

    /// Adds one archive message (its `source` and `archiveID` are set when it is applied). Waits
    /// while the apply thread is `ImportHandoff.capacity` chunks behind. Throws
    /// `CancellationError` when the import was asked to stop.
    public func write(_ message: StoredMessage) throws {
        if (written + 1) % Self.cancellationCheckInterval == 0 && handoff.isStopped { throw CancellationError() }
        chunk.append(message)
        written += 1
        if chunk.count == chunkRows { try handOver() }
    }

    /// Hands over what is left of the last chunk.
    func finish() throws {
        if !chunk.isEmpty { try handOver() }
    }

    private func handOver() throws {
        let rows = chunk
        chunk = []
        chunk.reserveCapacity(chunkRows)
        try handoff.put(rows)
    }
}

extension HistoryDatabase {
    /// Imports one archive: `body` decodes the archive and writes its messages, which another
    /// thread applies a chunk behind, in short transactions, as hidden rows (no lock is held
    /// while decoding, however long it takes); one last short
    /// transaction publishes them: each message is inserted, or overwrites the local copy with
    /// the same ID; in replace mode, local copies in `[from, to)` on the archive's topics that
    /// the archive did not contain are deleted; the archive is recorded as imported. Readers
    /// see all of it or none of it; if `body` or any step throws, nothing of it is published
    /// (a local copy it had replaced stays a local copy, with the archive's version of it).
    ///
    /// ```swift
    /// let counts = try await database.hydrate(archive: record, mode: .replace) { writer in
    ///     for message in decoded { try writer.write(message) }
    ///     return ArchiveContentSummary(from: from, to: to, contentTopics: topics, entryCount: n, rejections: [:])
    /// }
    /// ```
    ///
    /// It never blocks a thread of Swift's cooperative pool: `body` runs on a thread of its
    /// own while the apply step runs on another. Cancelling the calling task stops it within
    /// `cancellationCheckInterval` messages or one transaction: nothing is visible and this throws
    /// `CancellationError`, so a shutdown never waits for a large archive to finish.
    /// Throws `HistoryStoreError.alreadyImported` unless `force`, what `body` throws, and
    /// `DatabaseError` (busy past the timeout, disk full).
    public func hydrate(
        archive: ArchiveRecord, mode: HydrationMode, force: Bool = false,
        body: @escaping @Sendable (ArchiveHydrationWriter) throws -> ArchiveContentSummary
    ) async throws -> HydrationCounts {
        let handoff = ImportHandoff(capacity: applyPacing.waitingChunks)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                Thread {
                    continuation.resume(with: Result {
                        try self.runImport(archive: archive, mode: mode, force: force, handoff: handoff, body: body)
                    })
                }.start()
            }
        } onCancel: {
            handoff.stop()
        }
    }

    /// Reads on this thread while a new one applies, a chunk behind; returns when both have
    /// ended and the import's claim file is gone.
    private func runImport(
        archive: ArchiveRecord, mode: HydrationMode, force: Bool, handoff: ImportHandoff,
        body: (ArchiveHydrationWriter) throws -> ArchiveContentSummary
    ) throws -> HydrationCounts {
        if handoff.isStopped { throw CancellationError() }
        if !force, try isImported(archiveID: archive.id) { throw HistoryStoreError.alreadyImported(archiveID: archive.id) }
        let claim = try ImportClaim(historyPath: path)
        let owner = claim.path
        return try removing(claim) {
            let applied = Mutex<Result<HydrationCounts, any Error>?>(nil)
            let applyEnded = DispatchSemaphore(value: 0)
            let applying = Thread {
                let result = Result {
                    try self.apply(owner: owner, archive: archive, mode: mode, force: force, handoff: handoff)
                }
                // A failed apply stops the reading too (nothing would use its rows).
                if case .failure = result { handoff.stop() }
                applied.withLock { $0 = result }
                applyEnded.signal()
            }
            // Named for `ps -L`, `top -H` and `perf`: the one thread an import cannot parallelize.
            applying.name = "import apply"
            applying.start()
            // Its outcome goes to `handoff`, where the apply thread reads it.
            handoff.end(with: Result {
                let writer = ArchiveHydrationWriter(chunkRows: applyPacing.chunkRows, handoff: handoff)
                let summary = try body(writer)
                try writer.finish()
                return summary
            })
            applyEnded.wait()
            let waits = handoff.waits
            importStages.withLock {
                $0.readingWaited += waits.reading
                $0.applyWaited += waits.apply
            }
            return try applied.withLock { $0! }.get()
        }
    }

    /// Runs `work`, then deletes the claim file whatever happened. A failure to delete it
    /// does not hide `work`'s outcome (the import committed, or failed, either way): it is
    /// logged and counted, and the file is left for `removeAbandonedStagingFiles`.
    private func removing<T>(_ claim: ImportClaim, _ work: () throws -> T) throws -> T {
        let result = Result { try work() }
        removeClaimFile(claim)
        return try result.get()
    }

    private func removeClaimFile(_ claim: ImportClaim) {
        do { try claim.remove() } catch {
            stagingFilesLeft.add(1, ordering: .relaxed)
            logger.warning("cannot remove an import's claim file", metadata: ["path": "\(claim.path)", "error": "\(error)"])
        }
    }

    public func isImported(archiveID: String) throws -> Bool {
        try pool.read { try Self.isImported($0, archiveID: archiveID) }
    }

    static func isImported(_ db: Database, archiveID: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM imported_archive WHERE id = ?", arguments: [archiveID]) ?? false
    }

    static func record(
        _ db: Database, archive: ArchiveRecord, mode: HydrationMode, summary: ArchiveContentSummary,
        counts: HydrationCounts
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let topics = String(decoding: try encoder.encode(summary.contentTopics), as: UTF8.self)
        let rejections = String(decoding: try encoder.encode(summary.rejections), as: UTF8.self)
        try db.execute(sql: """
            INSERT OR REPLACE INTO imported_archive
                (id, community_id, cid, from_time, to_time, content_topics, mode, message_count,
                 stored_count, replaced_count, unchanged_count, removed_count, rejected_count, rejections, imported_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [
                archive.id, archive.communityID, archive.cid, Int64(summary.from), Int64(summary.to), topics,
                mode.rawValue, summary.entryCount, counts.stored, counts.replaced, counts.unchanged, counts.removed,
                summary.rejections.values.reduce(0, +), rejections, Int64(Date().timeIntervalSince1970 * 1000),
            ])
        // In the same transaction: an archive is never both imported and waiting for import or
        // failed, whenever the process dies (only its file can be left, `sweepArchives` removes it).
        try db.execute(sql: "DELETE FROM downloaded_archive WHERE id = ?", arguments: [archive.id])
        try db.execute(sql: "DELETE FROM archive_failure WHERE id = ?", arguments: [archive.id])
        try db.execute(sql: "DELETE FROM key_wait WHERE community_id = ? AND kind = 'archive' AND item = ?",
                       arguments: [archive.communityID, archive.id])
        // Its messages waiting for a key: replaced by this import's (a forced one may hold fewer).
        try db.execute(sql: "DELETE FROM held_message WHERE community_id = ? AND archive_id = ?", arguments: [archive.communityID, archive.id])
        if !summary.held.isEmpty {
            let hold = try db.makeStatement(sql: """
                INSERT OR IGNORE INTO held_message (community_id, archive_id, entry_id, group_id, key_id, entry, held_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for message in summary.held {
                try hold.execute(arguments: [archive.communityID, archive.id, message.entryID, message.groupID, message.keyID, message.entry, now])
            }
        }
    }
}
