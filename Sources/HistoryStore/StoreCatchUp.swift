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
        try await valueByCommunity(communityIDs, column: "caught_up_to") { marks in
            "SELECT community_id, caught_up_to FROM store_catch_up WHERE community_id IN (\(marks))"
        }
    }

    /// Where a community's next first catch-up may start (Unix milliseconds), for each of
    /// `communityIDs` that has one: its last full catch-up's end, but no later than the clock
    /// (milliseconds) of the newest announcement its sync accepted. A catch-up's end says the
    /// store was asked, not that the announcements it returned were kept: a run stopped (a
    /// leave, new settings, the agent's stop) before its sync took them loses them, and the next
    /// run must ask again from the last one its sync recorded. A community whose sync recorded
    /// no announcement has no point: it asks for the whole window.
    ///
    /// Throws `DatabaseError` when the database cannot be read.
    public func storeCatchUpResumePoints(of communityIDs: [String]) async throws -> [String: Int64] {
        try await valueByCommunity(communityIDs, column: "point") { marks in
            """
            SELECT s.community_id, min(s.caught_up_to, st.index_clock) AS point
            FROM store_catch_up AS s JOIN community_index_state AS st ON st.community_id = s.community_id
            WHERE st.index_cid IS NOT NULL AND s.community_id IN (\(marks))
            """
        }
    }

    /// `column` of the rows `sql` selects for `communityIDs` (its `IN (…)` filled with `marks`),
    /// by `community_id`. In slices: SQLite bounds a statement's parameters (32,766 here, 999 in
    /// old builds).
    private func valueByCommunity(_ communityIDs: [String], column: String, sql: @escaping @Sendable (_ marks: String) -> String) async throws -> [String: Int64] {
        guard !communityIDs.isEmpty else { return [:] }
        return try await pool.read { db in
            var values: [String: Int64] = [:]
            for start in stride(from: 0, to: communityIDs.count, by: 500) {
                let slice = Array(communityIDs[start..<min(start + 500, communityIDs.count)])
                for row in try Row.fetchAll(db, sql: sql(slice.map { _ in "?" }.joined(separator: ", ")), arguments: StatementArguments(slice)) {
                    values[row["community_id"]] = row[column]
                }
            }
            return values
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
