import GRDB
import StatusWire

/// What a community's sync driver reads at start to resume where the last run stopped, typed
/// as it was written. A row that does not read back is in `unreadable`, for the driver to
/// report (and, for a download, to forget): never skipped in silence, never guessed at.
public struct SyncResumeState: Sendable {
    /// The newest index accepted from an announcement, and that announcement's clock (ms).
    public var indexCID: CID?
    public var indexClock: UInt64
    /// The index whose every selected archive has been imported, and which archives of it were
    /// selected (the engine's `ArchiveSelection.storageKey`; nil when unknown).
    public var processedIndexCID: CID?
    public var processedSelection: String?
    public var importedArchiveIDs: Set<ArchiveID>
    /// This community's archives downloaded and not yet imported.
    public var downloaded: [DownloadedArchiveRecord]
    /// Archives rejected by this decoder revision or a newer one, with the reason recorded.
    public var rejected: [ArchiveID: String]
    /// The files every community's downloads wait in (a sweep of leftovers keeps them).
    public var allDownloadPaths: Set<String>
    /// Rows that did not read back.
    public var unreadable: [UnreadableRecord]
}

extension HistoryDatabase {
    /// Reads a community's `SyncResumeState` in one read transaction, without blocking a
    /// thread of Swift's cooperative pool.
    ///
    /// ```swift
    /// let resume = try await database.resumeState(communityID: id, decoderRevision: ArchiveImporter.decoderRevision)
    /// for row in resume.unreadable { report(row) }
    /// ```
    ///
    /// Throws a GRDB `DatabaseError` when the database cannot be read.
    public func resumeState(communityID: String, decoderRevision: Int) async throws -> SyncResumeState {
        try await pool.read { db in
            var unreadable: [UnreadableRecord] = []
            func typed<Value>(_ table: UnreadableRecord.Table, _ key: String, _ read: () throws -> Value) throws -> Value? {
                do { return try read() } catch let error as RowDecodingError {
                    unreadable.append(UnreadableRecord(table: table, key: key, error: "\(error)"))
                    return nil
                }
            }
            let state = try Row.fetchOne(db, sql: "SELECT * FROM community_index_state WHERE community_id = ?", arguments: [communityID])
            let indexCID = try state.flatMap { row in try typed(.communityIndexState, communityID) { try row.decode(CID?.self, forColumn: "index_cid") } ?? nil }
            let processed = try state.flatMap { row in
                try typed(.communityIndexState, communityID) { try row.decode(CID?.self, forColumn: "processed_index_cid") } ?? nil
            }
            let imported = try Row.fetchAll(db, sql: "SELECT id FROM imported_archive WHERE community_id = ?", arguments: [communityID])
                .compactMap { row in try typed(.importedArchive, UnreadableRecord.key(row)) { try row.decode(ArchiveID.self, forColumn: "id") } }
            var rejected: [ArchiveID: String] = [:]
            for row in try Self.rejectedArchiveRows(db, communityID: communityID, decoderRevision: decoderRevision) {
                if let id = try typed(.archiveFailure, UnreadableRecord.key(row), { try row.decode(ArchiveID.self, forColumn: "id") }) {
                    rejected[id] = String.fromDatabaseValue(row["reason"] as DatabaseValue) ?? "(no reason recorded)"
                }
            }
            let downloads = try Self.downloadedArchives(db, communityID: communityID)
            return SyncResumeState(
                indexCID: indexCID, indexClock: state.map { UInt64(bitPattern: $0["index_clock"] as Int64) } ?? 0,
                processedIndexCID: processed, processedSelection: state?["processed_selection"],
                importedArchiveIDs: Set(imported), downloaded: downloads.records, rejected: rejected,
                allDownloadPaths: try Self.downloadedArchivePaths(db), unreadable: unreadable + downloads.unreadable)
        }
    }
}
