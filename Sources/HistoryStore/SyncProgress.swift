import GRDB

extension HistoryDatabase {
    /// How many communities have synced their newest index known here: its last plan ended
    /// without an error (every archive it selects imported, recorded as not importable, or
    /// waiting for a key). What `benchmark agent` waits for, read without asking the agent (its
    /// API's answers would cost the agent the CPU being measured).
    ///
    /// ```swift
    /// let done = try await database.communitiesSynced()   // 1000 once a thousand are synced
    /// ```
    ///
    /// Throws `DatabaseError` when the database cannot be read.
    public func communitiesSynced() async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM community_index_state
                WHERE index_cid IS NOT NULL AND last_success_at IS NOT NULL AND last_error IS NULL
                """) ?? 0
        }
    }
}
