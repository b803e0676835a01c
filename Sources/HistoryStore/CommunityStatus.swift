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
    /// Failed in a way a later attempt may fix (a download, a busy database): retried.
    public var archivesFailed: Int
    /// Over a decoding limit the user sets: imported by a run with raised limits, not retried before.
    public var archivesOverLimit: Int
    /// Cannot be imported as they are (content rejected): not downloaded again.
    public var archivesUnimportable: Int
    /// Unix seconds covered by imported archives (earliest start, latest end).
    public var coveredFrom: UInt64?
    public var coveredTo: UInt64?
    public var messageCount: Int
    public var lastError: String?
    /// Milliseconds since 1970.
    public var lastSuccessAt: Int64?
    /// An encrypted community's index and archives waiting for a group key (`keys import`).
    public var keyWaits: [KeyWait] = []
}

/// What becomes of an archive that failed, as recorded and as `status` counts it.
public enum ArchiveFailureDisposition: Sendable, Equatable {
    /// A later attempt may import it (a download failed, the database was busy): retried.
    case retrying
    /// Over a decoding limit the user sets: a run with raised limits imports it.
    case overLimit
    /// Its bytes are what its CID names and fail verification under this decoder revision:
    /// not downloaded again until the decoder changes.
    case rejected(decoderRevision: Int)

    /// The `archive_failure.disposition` column's value.
    var storageKey: String {
        switch self {
        case .retrying: return "retrying"
        case .overLimit: return "over-limit"
        case .rejected: return "rejected"
        }
    }
}

extension HistoryDatabase {
    /// Every community the database knows (from any table), with its status.
    public func communityStatuses() async throws -> [CommunityStatus] {
        try await pool.read { db in
            let ids = try String.fetchAll(db, sql: """
                SELECT community_id FROM community_index_state
                UNION SELECT community_id FROM imported_archive
                UNION SELECT DISTINCT community_id FROM message
                ORDER BY 1
                """)
            let hidden = try Self.hiddenPendingRows(db)
            return try ids.map { try Self.status(of: $0, db, hidden: hidden) }
        }
    }

    /// The status of each of `communityIDs` (zeros for one the database holds nothing of), by ID:
    /// a few indexed statements a community (a page of 50 in a few milliseconds at a thousand
    /// communities of 2,000 messages each), and one for the rows an import is writing.
    public func communityStatuses(communityIDs: [String]) async throws -> [String: CommunityStatus] {
        try await pool.read { db in
            let hidden = try Self.hiddenPendingRows(db)
            return try Dictionary(uniqueKeysWithValues: communityIDs.map { ($0, try Self.status(of: $0, db, hidden: hidden)) })
        }
    }

    /// Rows an import is writing that readers do not see yet (its new messages; the local copies
    /// it replaced stay visible), by `community_ref`: what the message count leaves out.
    static func hiddenPendingRows(_ db: Database) throws -> [Int64: Int] {
        var hidden: [Int64: Int] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT m.community_ref, COUNT(*) FROM message_row AS m
            WHERE m.archive_ref IN (SELECT ref FROM archive_ref WHERE pending_owner IS NOT NULL) AND m.replaced_local IS NULL
            GROUP BY m.community_ref
            """) {
            hidden[row[0]] = row[1]
        }
        return hidden
    }

    static func status(of id: String, _ db: Database, hidden: [Int64: Int]) throws -> CommunityStatus {
        // Cached statements: a page of the list reads fifty communities with the same SQL, and
        // compiling it again for each was a tenth of the page's time (issue 29).
        func one<T: DatabaseValueConvertible & StatementColumnConvertible>(_ type: T.Type, _ sql: String, _ arguments: StatementArguments) throws -> T? {
            try T.fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
        }
        let state = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM community_index_state WHERE community_id = ?"), arguments: [id])
        let archives = try Row.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) AS n, MIN(from_time) AS f, MAX(to_time) AS t FROM imported_archive WHERE community_id = ?"),
                                        arguments: [id])!
        func failures(_ disposition: ArchiveFailureDisposition) throws -> Int {
            try one(Int.self, "SELECT COUNT(*) FROM archive_failure WHERE community_id = ? AND disposition = ?", [id, disposition.storageKey]) ?? 0
        }
        return CommunityStatus(
            communityID: id, indexCID: state?["index_cid"], indexClock: UInt64(bitPattern: (state?["index_clock"] as Int64?) ?? 0),
            processedIndexCID: state?["processed_index_cid"], archivesImported: archives["n"],
            archivesPending: try one(Int.self, "SELECT COUNT(*) FROM downloaded_archive WHERE community_id = ?", [id]) ?? 0,
            archivesFailed: try failures(.retrying),
            archivesOverLimit: try failures(.overLimit),
            archivesUnimportable: try failures(.rejected(decoderRevision: 0)),
            coveredFrom: (archives["f"] as Int64?).map { UInt64($0) }, coveredTo: (archives["t"] as Int64?).map { UInt64($0) },
            messageCount: try messageCount(of: id, db, hidden: hidden),
            lastError: state?["last_error"], lastSuccessAt: state?["last_success_at"],
            keyWaits: try keyWaits(db, communityID: id))
    }

    /// The messages readers see, counted on `message_row`'s index by community rather than
    /// through the `message` view's joins (issue 29: that count was most of a list's time):
    /// every row of the community, less the rows an import is writing and has not published.
    static func messageCount(of id: String, _ db: Database, hidden: [Int64: Int]) throws -> Int {
        guard let ref = try Int64.fetchOne(db.cachedStatement(sql: "SELECT ref FROM community_ref WHERE value = ?"), arguments: [id]) else { return 0 }
        let rows = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM message_row INDEXED BY message_row_by_time WHERE community_ref = ?"),
                                    arguments: [ref]) ?? 0
        return rows - (hidden[ref] ?? 0)
    }

    /// Records why an archive was not imported and what becomes of it. An archive rejected
    /// under a decoder revision is not downloaded again while the decoder is the same (see
    /// `rejectedArchives`).
    ///
    /// ```swift
    /// try await db.recordFailure(archiveID: id, communityID: community, reason: "download: HTTP 500", disposition: .retrying)
    /// ```
    public func recordFailure(archiveID: String, communityID: String, reason: String, disposition: ArchiveFailureDisposition) async throws {
        try await pool.write { db in try Self.recordFailure(db, archiveID, communityID, reason, disposition) }
    }

    static func recordFailure(_ db: Database, _ archiveID: String, _ communityID: String, _ reason: String,
                              _ disposition: ArchiveFailureDisposition) throws {
        // Failing is not waiting: a key wait recorded before ends (a key held that did not open it).
        try db.execute(sql: "DELETE FROM key_wait WHERE community_id = ? AND kind = 'archive' AND item = ?", arguments: [communityID, archiveID])
        var revision: Int?
        if case .rejected(let decoderRevision) = disposition { revision = decoderRevision }
        try db.execute(sql: """
            INSERT OR REPLACE INTO archive_failure (id, community_id, reason, failed_at, permanent, decoder_revision, disposition)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [archiveID, communityID, reason, Int64(Date().timeIntervalSince1970 * 1000),
                             revision != nil, revision, disposition.storageKey])
    }

    /// Archives of `communityID` that failed verification under `decoderRevision` (or a newer
    /// one), by archive ID, with the reason. Rejections by an older decoder are not returned:
    /// the newer one may read those archives.
    public func rejectedArchives(communityID: String, decoderRevision: Int) throws -> [String: String] {
        try pool.read { db in try Self.rejectedArchives(db, communityID: communityID, decoderRevision: decoderRevision) }
    }

    static func rejectedArchives(_ db: Database, communityID: String, decoderRevision: Int) throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try rejectedArchiveRows(db, communityID: communityID, decoderRevision: decoderRevision)
            .map { ($0["id"] as String, $0["reason"] as String) })
    }

    /// `id` and `reason` of each archive rejected by `decoderRevision` or a newer one.
    static func rejectedArchiveRows(_ db: Database, communityID: String, decoderRevision: Int) throws -> [Row] {
        try Row.fetchAll(db, sql: """
            SELECT id, reason FROM archive_failure
            WHERE community_id = ? AND permanent = 1 AND decoder_revision >= ?
            """, arguments: [communityID, decoderRevision])
    }

    public func clearFailure(archiveID: String) throws {
        try pool.write { try $0.execute(sql: "DELETE FROM archive_failure WHERE id = ?", arguments: [archiveID]) }
    }

    /// Records how the last plan ended: an error, or success (clears the error). Success means
    /// everything importable is in: archives that cannot be imported do not hold it back.
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
