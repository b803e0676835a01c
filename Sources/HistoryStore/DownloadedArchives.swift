import Foundation
import GRDB

/// An archive file downloaded but not yet imported (the sync agent's resume list).
public struct DownloadedArchiveRecord: Sendable, Hashable, Codable {
    public var id: String
    public var communityID: String
    public var cid: String
    public var path: String
    /// Unix seconds, `[from, to)`.
    public var from: UInt64
    public var to: UInt64
    /// `0x` + 8 hex digits each.
    public var contentTopics: [String]
    /// Whether the stored topics did not read (a damaged row): the record cannot stand for
    /// its index entry, and `[]` must not (it would make a good archive fail its metadata
    /// check, and be rejected for good). Its reader downloads the archive again.
    public var contentTopicsUnreadable = false

    public init(id: String, communityID: String, cid: String, path: String, from: UInt64, to: UInt64, contentTopics: [String]) {
        self.id = id
        self.communityID = communityID
        self.cid = cid
        self.path = path
        self.from = from
        self.to = to
        self.contentTopics = contentTopics
    }
}

extension HistoryDatabase {
    /// Records a downloaded archive's file, so the next start imports it instead of downloading it again.
    public func recordDownloaded(_ archive: DownloadedArchiveRecord) async throws {
        try await pool.write { db in try Self.recordDownloaded(db, archive) }
    }

    static func recordDownloaded(_ db: Database, _ archive: DownloadedArchiveRecord) throws {
        let topics = String(decoding: try JSONEncoder().encode(archive.contentTopics), as: UTF8.self)
            try db.execute(sql: """
                INSERT OR REPLACE INTO downloaded_archive (id, community_id, cid, path, from_time, to_time, content_topics, downloaded_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [archive.id, archive.communityID, archive.cid, archive.path, Int64(archive.from), Int64(archive.to),
                                 topics, Int64(Date().timeIntervalSince1970 * 1000)])
    }

    /// Forgets a download (its file is gone or goes). An archive waiting for a key with it no
    /// longer waits: it is downloaded again when planned.
    public func removeDownloaded(archiveID: String) async throws {
        try await pool.write { try Self.removeDownloaded($0, archiveID: archiveID) }
    }

    static func removeDownloaded(_ db: Database, archiveID: String) throws {
        try db.execute(sql: "DELETE FROM downloaded_archive WHERE id = ?", arguments: [archiveID])
        try db.execute(sql: "DELETE FROM key_wait WHERE kind = 'archive' AND item = ?", arguments: [archiveID])
    }

    public func downloadedArchives(communityID: String) throws -> [DownloadedArchiveRecord] {
        try pool.read { db in try Self.downloadedArchives(db, communityID: communityID) }
    }

    static func downloadedArchives(_ db: Database, communityID: String) throws -> [DownloadedArchiveRecord] {
            try Row.fetchAll(db, sql: "SELECT * FROM downloaded_archive WHERE community_id = ? ORDER BY from_time DESC",
                             arguments: [communityID]).map { row in
                let topics = try? JSONDecoder().decode([String].self, from: Data((row["content_topics"] as String).utf8))
                var record = DownloadedArchiveRecord(
                    id: row["id"], communityID: row["community_id"], cid: row["cid"], path: row["path"],
                    from: UInt64(row["from_time"] as Int64), to: UInt64(row["to_time"] as Int64), contentTopics: topics ?? [])
                record.contentTopicsUnreadable = topics == nil
                return record
            }
    }

    /// The files every community's downloaded archives wait in (those an archives-directory
    /// sweep must keep).
    static func downloadedArchivePaths(_ db: Database) throws -> Set<String> {
        Set(try String.fetchAll(db, sql: "SELECT path FROM downloaded_archive"))
    }
}
