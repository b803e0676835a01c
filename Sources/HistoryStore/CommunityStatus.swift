import Foundation
import GRDB

/// What `status` shows for one community.
public struct CommunityStatus: Sendable, Codable, Equatable {
    public var communityID: String
    public var indexCID: String?
    public var indexClock: UInt64
    public var processedIndexCID: String?
    public var archivesImported: Int
    /// Downloaded, waiting for import.
    public var archivesPending: Int
    /// Failed in a way a later attempt may fix (a download, a busy database).
    public var archivesFailed: Int
    /// Cannot be imported as they are (content rejected): not downloaded again.
    public var archivesUnimportable: Int
    /// Unix seconds covered by imported archives (earliest start, latest end).
    public var coveredFrom: UInt64?
    public var coveredTo: UInt64?
    public var messageCount: Int
    public var lastError: String?
    /// Milliseconds since 1970.
    public var lastSuccessAt: Int64?
}

extension HistoryDatabase {
    /// Every community the database knows (from any table), with its status.
    public func communityStatuses() throws -> [CommunityStatus] {
        try pool.read { db in
            let ids = try String.fetchAll(db, sql: """
                SELECT community_id FROM community_index_state
                UNION SELECT community_id FROM imported_archive
                UNION SELECT DISTINCT community_id FROM message
                ORDER BY 1
                """)
            return try ids.map { id in
                let state = try Row.fetchOne(db, sql: "SELECT * FROM community_index_state WHERE community_id = ?", arguments: [id])
                let archives = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, MIN(from_time) AS f, MAX(to_time) AS t FROM imported_archive WHERE community_id = ?", arguments: [id])!
                return CommunityStatus(
                    communityID: id, indexCID: state?["index_cid"], indexClock: UInt64(bitPattern: (state?["index_clock"] as Int64?) ?? 0),
                    processedIndexCID: state?["processed_index_cid"], archivesImported: archives["n"],
                    archivesPending: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM downloaded_archive WHERE community_id = ?", arguments: [id]) ?? 0,
                    archivesFailed: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM archive_failure WHERE community_id = ? AND permanent = 0", arguments: [id]) ?? 0,
                    archivesUnimportable: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM archive_failure WHERE community_id = ? AND permanent = 1", arguments: [id]) ?? 0,
                    coveredFrom: (archives["f"] as Int64?).map { UInt64($0) }, coveredTo: (archives["t"] as Int64?).map { UInt64($0) },
                    messageCount: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message WHERE community_id = ?", arguments: [id]) ?? 0,
                    lastError: state?["last_error"], lastSuccessAt: state?["last_success_at"])
            }
        }
    }

    /// Records why an archive was not imported. `rejectedByDecoderRevision`: the archive failed
    /// verification under that decoder revision and is not to be downloaded again while the
    /// decoder is the same (see `rejectedArchives`); nil for failures that may heal.
    public func recordFailure(archiveID: String, communityID: String, reason: String, rejectedByDecoderRevision: Int? = nil) throws {
        try pool.write { db in try Self.recordFailure(db, archiveID, communityID, reason, rejectedByDecoderRevision) }
    }

    /// `recordFailure` without blocking a cooperative thread.
    public func recordFailure(archiveID: String, communityID: String, reason: String, rejectedByDecoderRevision: Int? = nil) async throws {
        try await pool.write { db in try Self.recordFailure(db, archiveID, communityID, reason, rejectedByDecoderRevision) }
    }

    static func recordFailure(_ db: Database, _ archiveID: String, _ communityID: String, _ reason: String, _ revision: Int?) throws {
            try db.execute(sql: """
                INSERT OR REPLACE INTO archive_failure (id, community_id, reason, failed_at, permanent, decoder_revision)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [archiveID, communityID, reason, Int64(Date().timeIntervalSince1970 * 1000),
                                 revision != nil, revision])
    }

    /// Archives of `communityID` that failed verification under `decoderRevision` (or a newer
    /// one), by archive ID, with the reason. Rejections by an older decoder are not returned:
    /// the newer one may read those archives.
    public func rejectedArchives(communityID: String, decoderRevision: Int) throws -> [String: String] {
        try pool.read { db in try Self.rejectedArchives(db, communityID: communityID, decoderRevision: decoderRevision) }
    }

    static func rejectedArchives(_ db: Database, communityID: String, decoderRevision: Int) throws -> [String: String] {
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, reason FROM archive_failure
                WHERE community_id = ? AND permanent = 1 AND decoder_revision >= ?
                """, arguments: [communityID, decoderRevision])
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["id"] as String, $0["reason"] as String) })
    }

    public func clearFailure(archiveID: String) throws {
        try pool.write { try $0.execute(sql: "DELETE FROM archive_failure WHERE id = ?", arguments: [archiveID]) }
    }

    /// Records how the last plan ended: an error, or success (clears the error). Success means
    /// everything importable is in: archives that cannot be imported do not hold it back.
    public func recordOutcome(communityID: String, error: String?) throws {
        try pool.write { db in try Self.recordOutcome(db, communityID, error) }
    }

    /// `recordOutcome` without blocking a cooperative thread.
    public func recordOutcome(communityID: String, error: String?) async throws {
        try await pool.write { db in try Self.recordOutcome(db, communityID, error) }
    }

    static func recordOutcome(_ db: Database, _ communityID: String, _ error: String?) throws {
            try db.execute(sql: """
                INSERT INTO community_index_state (community_id, index_clock, updated_at) VALUES (?, 0, ?)
                ON CONFLICT(community_id) DO NOTHING
                """, arguments: [communityID, Int64(Date().timeIntervalSince1970 * 1000)])
            if let error {
                try db.execute(sql: "UPDATE community_index_state SET last_error = ? WHERE community_id = ?", arguments: [error, communityID])
            } else {
                try db.execute(sql: "UPDATE community_index_state SET last_error = NULL, last_success_at = ? WHERE community_id = ?",
                               arguments: [Int64(Date().timeIntervalSince1970 * 1000), communityID])
            }
    }
}
