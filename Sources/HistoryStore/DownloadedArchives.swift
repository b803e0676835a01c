import Foundation
import GRDB
import StatusCrypto
import StatusWire

/// An archive file downloaded but not yet imported (the sync agent's resume list): its index
/// entry, and where the file is.
public struct DownloadedArchiveRecord: Sendable, Hashable {
    public var id: ArchiveID
    public var communityID: String
    public var cid: CID
    public var path: String
    /// Unix seconds, `[from, to)`.
    public var from: UInt64
    public var to: UInt64
    public var contentTopics: [ContentTopic]

    public init(id: ArchiveID, communityID: String, cid: CID, path: String, from: UInt64, to: UInt64, contentTopics: [ContentTopic]) {
        self.id = id
        self.communityID = communityID
        self.cid = cid
        self.path = path
        self.from = from
        self.to = to
        self.contentTopics = contentTopics
    }

    /// The download of the archive `entry` names, in the file at `path`.
    public init(_ entry: ArchiveIndexEntry, communityID: String, path: String) {
        self.init(id: entry.id, communityID: communityID, cid: entry.cid, path: path, from: entry.from, to: entry.to,
                  contentTopics: entry.contentTopics)
    }

    /// The index entry it stands for.
    public var entry: ArchiveIndexEntry {
        ArchiveIndexEntry(id: id, cid: cid, from: from, to: to, contentTopics: contentTopics)
    }
}

extension HistoryDatabase {
    /// Records a downloaded archive's file, so the next start imports it instead of downloading it again.
    public func recordDownloaded(_ archive: DownloadedArchiveRecord) async throws {
        try await pool.write { db in try Self.recordDownloaded(db, archive) }
    }

    static func recordDownloaded(_ db: Database, _ archive: DownloadedArchiveRecord) throws {
            try db.execute(sql: """
                INSERT OR REPLACE INTO downloaded_archive (id, community_id, cid, path, from_time, to_time, content_topics, downloaded_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [archive.id, archive.communityID, archive.cid, archive.path, Int64(archive.from), Int64(archive.to),
                                 StoredContentTopics(topics: archive.contentTopics), Int64(Date().timeIntervalSince1970 * 1000)])
    }

    /// Forgets a download (its file is gone or goes). An archive waiting for a key with it no
    /// longer waits: it is downloaded again when planned.
    public func removeDownloaded(archiveID: ArchiveID) async throws {
        try await pool.write { try Self.removeDownloaded($0, archiveID: archiveID.string) }
    }

    /// Forgets a download by its key as stored (a row whose ID does not read: `UnreadableRecord.key`).
    public func removeDownloaded(storedID: String) async throws {
        try await pool.write { try Self.removeDownloaded($0, archiveID: storedID) }
    }

    static func removeDownloaded(_ db: Database, archiveID: String) throws {
        try db.execute(sql: "DELETE FROM downloaded_archive WHERE id = ?", arguments: [archiveID])
        try db.execute(sql: "DELETE FROM key_wait WHERE kind = 'archive' AND item = ?", arguments: [archiveID])
    }

    /// This community's downloads not yet imported, newest first. A row that does not read back
    /// (a damaged database) is not among them: `SyncResumeState.unreadable` lists it.
    public func downloadedArchives(communityID: String) throws -> [DownloadedArchiveRecord] {
        try pool.read { db in try Self.downloadedArchives(db, communityID: communityID).records }
    }

    /// Each row read back typed; one whose ID, CID or content topics do not read is returned as
    /// unreadable (its stored key: forget it with `removeDownloaded(storedID:)`). Its topics must
    /// not become `[]`: that would fail the archive's metadata check and reject a good archive
    /// for good.
    static func downloadedArchives(_ db: Database, communityID: String)
        throws -> (records: [DownloadedArchiveRecord], unreadable: [UnreadableRecord]) {
        var records: [DownloadedArchiveRecord] = []
        var unreadable: [UnreadableRecord] = []
        let rows = try Row.fetchCursor(db, sql: "SELECT * FROM downloaded_archive WHERE community_id = ? ORDER BY from_time DESC",
                                       arguments: [communityID])
        while let row = try rows.next() {
            do {
                records.append(DownloadedArchiveRecord(
                    id: try row.decode(forColumn: "id"), communityID: try row.decode(forColumn: "community_id"),
                    cid: try row.decode(forColumn: "cid"), path: try row.decode(forColumn: "path"),
                    from: UInt64(try row.decode(Int64.self, forColumn: "from_time")), to: UInt64(try row.decode(Int64.self, forColumn: "to_time")),
                    contentTopics: try row.decode(StoredContentTopics.self, forColumn: "content_topics").topics))
            } catch let error as RowDecodingError {
                unreadable.append(UnreadableRecord(table: .downloadedArchive, key: UnreadableRecord.key(row), error: "\(error)"))
            }
        }
        return (records, unreadable)
    }

    /// The files every community's downloaded archives wait in (those an archives-directory
    /// sweep must keep).
    static func downloadedArchivePaths(_ db: Database) throws -> Set<String> {
        Set(try String.fetchAll(db, sql: "SELECT path FROM downloaded_archive"))
    }
}
