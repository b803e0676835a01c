import Foundation
import GRDB

/// Where each community's last full store catch-up ended (`store_catch_up`, v16), so that a
/// restart asks the store for what it has not seen rather than for 30 days again.
extension HistoryDatabase {
    /// The end of the last catch-up that answered in full, in Unix milliseconds, of each of
    /// `communityIDs` that has one.
    ///
    /// ```swift
    /// let ends = try await database.storeCatchUpEnds(of: ["0x02…"])   // ["0x02…": 1796…]
    /// ```
    ///
    /// Throws `DatabaseError` when the database cannot be read.
    public func storeCatchUpEnds(of communityIDs: [String]) async throws -> [String: Int64] {
        guard !communityIDs.isEmpty else { return [:] }
        return try await pool.read { db in
            var ends: [String: Int64] = [:]
            // In slices: SQLite bounds a statement's parameters (32,766 here, 999 in old builds).
            for slice in stride(from: 0, to: communityIDs.count, by: 500).map({ communityIDs[$0..<min($0 + 500, communityIDs.count)] }) {
                let marks = slice.map { _ in "?" }.joined(separator: ", ")
                for row in try Row.fetchAll(db, sql: "SELECT community_id, caught_up_to FROM store_catch_up WHERE community_id IN (\(marks))",
                                            arguments: StatementArguments(Array(slice))) {
                    ends[row["community_id"]] = row["caught_up_to"]
                }
            }
            return ends
        }
    }

    /// Records that the store answered in full for `communityIDs` up to `end` (Unix
    /// milliseconds); an end already later is kept. Throws `DatabaseError` (disk full, busy).
    public func recordStoreCatchUp(of communityIDs: [String], to end: Int64) async throws {
        guard !communityIDs.isEmpty else { return }
        try await pool.write { db in
            let upsert = try db.makeStatement(sql: """
                INSERT INTO store_catch_up (community_id, caught_up_to) VALUES (?, ?)
                ON CONFLICT(community_id) DO UPDATE SET caught_up_to = max(caught_up_to, excluded.caught_up_to)
                """)
            for id in communityIDs { try upsert.execute(arguments: [id, end]) }
        }
    }
}
