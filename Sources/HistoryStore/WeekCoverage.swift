import Foundation
import GRDB

/// An archive of a community's index as `status` shows it: its week and what became of it.
public struct ArchiveWeek: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable, CaseIterable {
        /// Imported: its messages are the history of that week.
        case present
        /// Listed in the index, not imported and not being imported (not selected, or not reached yet).
        case missing
        /// Downloaded, waiting for its import.
        case pending
        /// Failed in a way a later try may fix (a download, a busy database), or rejected by an
        /// older decoder that this one reads again.
        case failed
        /// Over `--max-archive-bytes` or `--max-message-bytes`: imported by a run with a raised limit.
        case overLimit = "over-limit"
        /// Can never be imported as it is (failed verification under this decoder).
        case unreadable
        /// Encrypted with a group key the member does not hold yet: imported after `keys import`.
        case waitingForKey = "waiting-for-key"

        /// One character per week in `status`.
        public var symbol: Character {
            switch self {
            case .present: return "#"
            case .missing: return "."
            case .pending: return "~"
            case .failed: return "!"
            case .overLimit: return ">"
            case .unreadable: return "x"
            case .waitingForKey: return "k"
            }
        }
    }

    public var archiveID: String
    /// Unix seconds, `[from, to)`.
    public var from: UInt64
    public var to: UInt64
    public var state: State
}

/// One entry of an index, as the store records it.
public struct IndexEntryRecord: Sendable, Equatable {
    public var archiveID: String
    public var cid: String
    public var from: UInt64
    public var to: UInt64

    public init(archiveID: String, cid: String, from: UInt64, to: UInt64) {
        self.archiveID = archiveID
        self.cid = cid
        self.from = from
        self.to = to
    }
}

extension HistoryDatabase {
    /// Whether the archives of an index are recorded for `communityID` (not after an upgrade
    /// from before v11, until the index is read again).
    public func hasIndexEntries(communityID: String) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM index_entry WHERE community_id = ?)", arguments: [communityID]) ?? false
        }
    }

    /// Records the archives `indexCID` lists for `communityID`, in place of an older index's.
    public func saveIndexEntries(communityID: String, indexCID: String, entries: [IndexEntryRecord]) async throws {
        try await pool.write { db in try Self.saveIndexEntries(db, communityID: communityID, indexCID: indexCID, entries: entries) }
    }

    static func saveIndexEntries(_ db: Database, communityID: String, indexCID: String, entries: [IndexEntryRecord]) throws {
        try db.execute(sql: "DELETE FROM index_entry WHERE community_id = ?", arguments: [communityID])
        let insert = try db.makeStatement(sql: """
            INSERT OR REPLACE INTO index_entry (community_id, archive_id, cid, from_time, to_time, index_cid) VALUES (?, ?, ?, ?, ?, ?)
            """)
        for entry in entries {
            try insert.execute(arguments: [communityID, entry.archiveID, entry.cid, Int64(entry.from), Int64(entry.to), indexCID])
        }
    }

    /// Week by week (one index entry each, oldest first), what the database holds of a
    /// community's index. Archives imported under an older index that the newest no longer
    /// lists are included as present. Empty when no index was recorded and nothing imported.
    /// A rejection by a decoder older than `decoderRevision` is `failed`: this one tries again.
    public func weekCoverage(communityID: String, decoderRevision: Int) async throws -> [ArchiveWeek] {
        try await pool.read { db in
            // A database from before v13, opened read-only (not migrated), has no key waits.
            let waiting = try db.tableExists("key_wait")
                ? "EXISTS (SELECT 1 FROM key_wait WHERE community_id = e.community_id AND kind = 'archive' AND item = e.archive_id)"
                : "0"
            let rows = try Row.fetchAll(db, sql: """
                SELECT e.archive_id AS id, e.from_time AS f, e.to_time AS t, \(waiting) AS waiting,
                       EXISTS (SELECT 1 FROM imported_archive WHERE id = e.archive_id AND community_id = e.community_id) AS imported,
                       EXISTS (SELECT 1 FROM downloaded_archive WHERE id = e.archive_id AND community_id = e.community_id) AS pending,
                       (SELECT disposition FROM archive_failure WHERE id = e.archive_id AND community_id = e.community_id) AS failure,
                       (SELECT decoder_revision FROM archive_failure WHERE id = e.archive_id AND community_id = e.community_id) AS revision
                FROM index_entry AS e WHERE e.community_id = ?
                UNION ALL
                SELECT i.id, i.from_time, i.to_time, 0, 1, 0, NULL, NULL FROM imported_archive AS i
                WHERE i.community_id = ? AND NOT EXISTS (SELECT 1 FROM index_entry WHERE archive_id = i.id AND community_id = i.community_id)
                ORDER BY 2, 1
                """, arguments: [communityID, communityID])
            return rows.map { row in
                let state: ArchiveWeek.State
                if row["imported"] as Bool { state = .present }
                else if row["waiting"] as Bool { state = .waitingForKey }
                else if row["pending"] as Bool { state = .pending }
                else if let failure = row["failure"] as String? {
                    switch failure {
                    case ArchiveFailureDisposition.overLimit.storageKey: state = .overLimit
                    case ArchiveFailureDisposition.rejected(decoderRevision: 0).storageKey:
                        state = (row["revision"] as Int?).map { $0 >= decoderRevision } ?? true ? .unreadable : .failed
                    default: state = .failed
                    }
                }
                else { state = .missing }
                return ArchiveWeek(archiveID: row["id"], from: UInt64(row["f"] as Int64), to: UInt64(row["t"] as Int64), state: state)
            }
        }
    }
}
