import Foundation
import GRDB

/// An imported archive, as recorded by `hydrate`.
public struct ImportedArchive: Sendable, Hashable, Codable {
    public var id: String
    public var communityID: String
    public var cid: String
    public var from: UInt64
    public var to: UInt64
    public var mode: HydrationMode
    public var messageCount: Int
    public var storedCount: Int
    public var replacedCount: Int
    public var unchangedCount: Int
    public var removedCount: Int
    public var rejectedCount: Int
    /// Milliseconds since 1970.
    public var importedAt: Int64
}

/// The per-community index state (status-go: `communities_archive_info`).
public struct CommunityIndexState: Sendable, Hashable, Codable {
    public var communityID: String
    /// The newest index CID accepted from an announcement.
    public var indexCID: String?
    /// The clock (ms) of that announcement.
    public var indexClock: UInt64
    /// The index CID whose every selected archive has been imported.
    public var processedIndexCID: String?
    /// Which archives of that index were selected (the engine's `ArchiveSelection.storageKey`);
    /// nil when unknown (marks from before schema v6), which covers no selection.
    public var processedSelection: String?

    public init(communityID: String, indexCID: String? = nil, indexClock: UInt64 = 0, processedIndexCID: String? = nil,
                processedSelection: String? = nil) {
        self.communityID = communityID
        self.indexCID = indexCID
        self.indexClock = indexClock
        self.processedIndexCID = processedIndexCID
        self.processedSelection = processedSelection
    }
}

extension HistoryDatabase {
    public func importedArchives(communityID: String) throws -> [ImportedArchive] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM imported_archive WHERE community_id = ? ORDER BY from_time, id",
                             arguments: [communityID]).map { row in
                ImportedArchive(
                    id: row["id"], communityID: row["community_id"], cid: row["cid"],
                    from: UInt64(row["from_time"] as Int64), to: UInt64(row["to_time"] as Int64),
                    mode: HydrationMode(rawValue: row["mode"]) ?? .replace, messageCount: row["message_count"],
                    storedCount: row["stored_count"], replacedCount: row["replaced_count"],
                    unchangedCount: row["unchanged_count"], removedCount: row["removed_count"],
                    rejectedCount: row["rejected_count"], importedAt: row["imported_at"])
            }
        }
    }

    public func importedArchiveIDs(communityID: String) throws -> Set<String> {
        try pool.read { db in try Self.importedArchiveIDs(db, communityID: communityID) }
    }

    static func importedArchiveIDs(_ db: Database, communityID: String) throws -> Set<String> {
            Set(try String.fetchAll(db, sql: "SELECT id FROM imported_archive WHERE community_id = ?", arguments: [communityID]))
    }

    public func indexState(communityID: String) throws -> CommunityIndexState? {
        try pool.read { db in try Self.indexState(db, communityID: communityID) }
    }

    static func indexState(_ db: Database, communityID: String) throws -> CommunityIndexState? {
            try Row.fetchOne(db, sql: "SELECT * FROM community_index_state WHERE community_id = ?", arguments: [communityID]).map { row in
                CommunityIndexState(
                    communityID: row["community_id"], indexCID: row["index_cid"],
                    indexClock: UInt64(bitPattern: row["index_clock"] as Int64), processedIndexCID: row["processed_index_cid"],
                    processedSelection: row["processed_selection"])
            }
    }

    public func saveIndexState(_ state: CommunityIndexState) throws {
        try pool.write { db in try Self.saveIndexState(db, state) }
    }

    /// Reads, changes and saves a community's index state in one write transaction, without
    /// blocking a cooperative thread.
    public func updateIndexState(communityID: String, _ change: @escaping @Sendable (inout CommunityIndexState) -> Void) async throws {
        try await pool.write { db in
            var state = try Self.indexState(db, communityID: communityID) ?? CommunityIndexState(communityID: communityID)
            change(&state)
            try Self.saveIndexState(db, state)
        }
    }

    static func saveIndexState(_ db: Database, _ state: CommunityIndexState) throws {
            try db.execute(sql: """
                INSERT INTO community_index_state (community_id, index_cid, index_clock, processed_index_cid, processed_selection, updated_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(community_id) DO UPDATE SET index_cid = excluded.index_cid, index_clock = excluded.index_clock,
                    processed_index_cid = excluded.processed_index_cid, processed_selection = excluded.processed_selection,
                    updated_at = excluded.updated_at
                """, arguments: [state.communityID, state.indexCID, Int64(bitPattern: state.indexClock),
                                 state.processedIndexCID, state.processedSelection, Int64(Date().timeIntervalSince1970 * 1000)])
    }
}
