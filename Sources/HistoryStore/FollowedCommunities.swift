import Foundation
import GRDB

/// A community a chat client joined through the agent's local API: its ID and its settings,
/// as the JSON the agent reads back at start (the store does not read it).
public struct FollowedCommunity: Sendable, Equatable {
    public var communityID: String
    /// The agent's per-community settings (mode, range, hydration, …), JSON.
    public var settings: Data
    /// Milliseconds since 1970.
    public var joinedAt: Int64

    public init(communityID: String, settings: Data, joinedAt: Int64) {
        self.communityID = communityID
        self.settings = settings
        self.joinedAt = joinedAt
    }
}

extension HistoryDatabase {
    /// The communities joined through the API, in the order they were joined.
    public func followedCommunities() async throws -> [FollowedCommunity] {
        try await pool.read(Self.followedCommunities)
    }

    static func followedCommunities(_ db: Database) throws -> [FollowedCommunity] {
        try Row.fetchAll(db, sql: "SELECT * FROM followed_community ORDER BY joined_at, community_id").map {
            FollowedCommunity(communityID: $0["community_id"], settings: Data(($0["settings"] as String).utf8), joinedAt: $0["joined_at"])
        }
    }

    /// Records (or updates the settings of) a community joined through the API.
    public func follow(_ community: FollowedCommunity) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO followed_community (community_id, settings, joined_at) VALUES (?, ?, ?)
                ON CONFLICT(community_id) DO UPDATE SET settings = excluded.settings
                """, arguments: [community.communityID, String(decoding: community.settings, as: UTF8.self), community.joinedAt])
        }
    }

    /// Forgets a community joined through the API; with `purge`, deletes its history too: its
    /// messages (archived and local copies), imported archives, downloads, failures and index
    /// state and channel names, in one transaction. Returns the messages deleted. The caller stops the
    /// community's sync first (an import in progress would write again).
    public func unfollow(communityID: String, purge: Bool) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM followed_community WHERE community_id = ?", arguments: [communityID])
            guard purge else { return 0 }
            let ref = try Int64.fetchOne(db, sql: "SELECT ref FROM community_ref WHERE value = ?", arguments: [communityID])
            var deleted = 0
            if let ref {
                try db.execute(sql: "DELETE FROM message_row WHERE community_ref = ?", arguments: [ref])
                deleted = db.changesCount
            }
            for table in ["imported_archive", "downloaded_archive", "archive_failure", "community_index_state", "index_entry",
                          "channel_directory", "channel_name", "key_wait", "held_message", "store_catch_up"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE community_id = ?", arguments: [communityID])
            }
            return deleted
        }
    }
}
