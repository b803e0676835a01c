import Foundation
import GRDB

/// A community's channel names, from its newest description: what `messages` and the API show
/// instead of a channel's UUID, and what `--channel` also accepts.
public struct ChannelNames: Sendable, Equatable {
    public struct Channel: Sendable, Equatable, Codable {
        /// The community ID and the channel's UUID concatenated (a message's `chat_id`).
        public var chatID: String
        public var name: String
        /// The community's display order.
        public var position: Int

        public init(chatID: String, name: String, position: Int) {
            self.chatID = chatID
            self.name = name
            self.position = position
        }
    }

    /// The description's clock; nil when no description has been seen.
    public let clock: UInt64?
    /// In the community's order.
    public let channels: [Channel]

    private let nameByChatID: [String: String]

    public init(clock: UInt64?, channels: [Channel]) {
        self.clock = clock
        self.channels = channels
        nameByChatID = Dictionary(channels.map { ($0.chatID, $0.name) }, uniquingKeysWith: { first, _ in first })
    }

    public static let none = ChannelNames(clock: nil, channels: [])

    /// The name of the channel with this chat ID, if the description names it.
    public func name(ofChat chatID: String?) -> String? {
        chatID.flatMap { nameByChatID[$0] }
    }

    /// What a user's `--channel general` (or `#general`) means.
    public enum Lookup: Equatable, Sendable {
        case chat(String)
        case notAName
        /// Names are the community's to choose and need not be unique.
        case ambiguous([Channel])
    }

    /// Matches a name, case-insensitively, with or without its leading `#`.
    public func lookup(name: String) -> Lookup {
        let wanted = (name.hasPrefix("#") ? String(name.dropFirst()) : name).lowercased()
        let matches = channels.filter { $0.name.lowercased() == wanted }
        switch matches.count {
        case 0: return .notAName
        case 1: return .chat(matches[0].chatID)
        default: return .ambiguous(matches)
        }
    }
}

extension HistoryDatabase {
    /// Records the channel names of a community description whose clock is newer than the one
    /// recorded (descriptions are republished and may arrive out of order: an older one never
    /// renames anything). The names are replaced whole, in one transaction.
    ///
    /// ```swift
    /// let applied = try await database.recordChannelNames(
    ///     ChannelNames(clock: 12, channels: [.init(chatID: id + uuid, name: "general", position: 0)]), communityID: id)
    /// ```
    ///
    /// Returns false when a description at least as new is already recorded. Throws a GRDB
    /// `DatabaseError` when the database cannot be written.
    @discardableResult
    public func recordChannelNames(_ names: ChannelNames, communityID: String) async throws -> Bool {
        guard let clock = names.clock else { return false }
        return try await pool.write { db in
            let recorded = try UInt64.fetchOne(db, sql: "SELECT clock FROM channel_directory WHERE community_id = ?",
                                               arguments: [communityID])
            if let recorded, recorded >= clock { return false }
            try db.execute(sql: "INSERT OR REPLACE INTO channel_directory (community_id, clock) VALUES (?, ?)",
                           arguments: [communityID, clock])
            try db.execute(sql: "DELETE FROM channel_name WHERE community_id = ?", arguments: [communityID])
            for channel in names.channels {
                try db.execute(sql: """
                    INSERT OR REPLACE INTO channel_name (community_id, chat_id, name, position) VALUES (?, ?, ?, ?)
                    """, arguments: [communityID, channel.chatID, channel.name, channel.position])
            }
            return true
        }
    }

    /// The chat IDs that hold at least one of the community's messages (a channel given by UUID
    /// or chat ID is one of the community's when it is among them or named by its description).
    ///
    /// ```swift
    /// let chats = try await db.chatIDs(communityID: id)   // ["0x02…<uuid>", …]
    /// ```
    public func chatIDs(communityID: String) async throws -> Set<String> {
        try await pool.read { db in
            Set(try String.fetchAll(db, sql: """
                SELECT h.value FROM chat_ref AS h
                WHERE EXISTS (SELECT 1 FROM message_row AS m
                              WHERE m.community_ref = (SELECT ref FROM community_ref WHERE value = ?) AND m.chat_ref = h.ref)
                """, arguments: [communityID]))
        }
    }

    /// The community's channel names (`ChannelNames.none` before any description).
    ///
    /// Throws a GRDB `DatabaseError` when the database cannot be read.
    public func channelNames(communityID: String) async throws -> ChannelNames {
        try await pool.read { db in try Self.channelNames(db, communityID: communityID) }
    }

    static func channelNames(_ db: Database, communityID: String) throws -> ChannelNames {
        // A database from before v12, opened read-only (not migrated) by `messages`: no names yet.
        guard try db.tableExists("channel_name") else { return .none }
        let clock = try UInt64.fetchOne(db, sql: "SELECT clock FROM channel_directory WHERE community_id = ?", arguments: [communityID])
        let channels = try Row.fetchAll(db, sql: """
            SELECT chat_id, name, position FROM channel_name WHERE community_id = ? ORDER BY position, name, chat_id
            """, arguments: [communityID]).map { ChannelNames.Channel(chatID: $0["chat_id"], name: $0["name"], position: $0["position"]) }
        return ChannelNames(clock: clock, channels: channels)
    }
}
