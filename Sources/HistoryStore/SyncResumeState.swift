import GRDB

/// What a community's sync driver reads at start to resume where the last run stopped.
public struct SyncResumeState: Sendable {
    public var indexState: CommunityIndexState?
    public var importedArchiveIDs: Set<String>
    /// This community's archives downloaded and not yet imported.
    public var downloaded: [DownloadedArchiveRecord]
    /// Archives rejected by this decoder revision or a newer one (archive ID → reason).
    public var rejected: [String: String]
    /// The files every community's downloads wait in (a sweep of leftovers keeps them).
    public var allDownloadPaths: Set<String>
}

extension HistoryDatabase {
    /// Reads a community's `SyncResumeState` in one read transaction, without blocking a
    /// thread of Swift's cooperative pool.
    ///
    /// ```swift
    /// let resume = try await database.resumeState(communityID: id, decoderRevision: ArchiveImporter.decoderRevision)
    /// ```
    public func resumeState(communityID: String, decoderRevision: Int) async throws -> SyncResumeState {
        try await pool.read { db in
            SyncResumeState(
                indexState: try Self.indexState(db, communityID: communityID),
                importedArchiveIDs: try Self.importedArchiveIDs(db, communityID: communityID),
                downloaded: try Self.downloadedArchives(db, communityID: communityID),
                rejected: try Self.rejectedArchives(db, communityID: communityID, decoderRevision: decoderRevision),
                allDownloadPaths: try Self.downloadedArchivePaths(db))
        }
    }
}
