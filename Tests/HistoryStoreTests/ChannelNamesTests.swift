import Foundation
import GRDB
@testable import HistoryStore
import Testing

/// Descriptions are republished and arrive in any order: the newest clock names the channels.
@Suite struct ChannelNamesTests {
    static let community = "0x02" + String(repeating: "ab", count: 32)

    func database() throws -> HistoryDatabase {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("names-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try HistoryDatabase(path: directory.appendingPathComponent("h.sqlite").path)
    }

    func names(_ clock: UInt64, _ pairs: [(String, String)]) -> ChannelNames {
        ChannelNames(clock: clock, channels: pairs.enumerated().map { .init(chatID: Self.community + $1.0, name: $1.1, position: $0) })
    }

    @Test func anOlderDescriptionNeverRenamesAChannel() async throws {
        let db = try database()
        #expect(try await db.channelNames(communityID: Self.community) == .none)
        #expect(try await db.recordChannelNames(names(20, [("u1", "general"), ("u2", "dev")]), communityID: Self.community))
        #expect(try await !db.recordChannelNames(names(19, [("u1", "old-name")]), communityID: Self.community))
        #expect(try await !db.recordChannelNames(names(20, [("u1", "same-clock")]), communityID: Self.community))
        var stored = try await db.channelNames(communityID: Self.community)
        #expect(stored.clock == 20 && stored.channels.map(\.name) == ["general", "dev"])
        #expect(stored.name(ofChat: Self.community + "u2") == "dev" && stored.name(ofChat: Self.community + "u9") == nil)

        // A newer one replaces the names whole: a channel it no longer lists has no name.
        #expect(try await db.recordChannelNames(names(21, [("u1", "lobby")]), communityID: Self.community))
        stored = try await db.channelNames(communityID: Self.community)
        #expect(stored.channels.map(\.name) == ["lobby"] && stored.name(ofChat: Self.community + "u2") == nil)
    }

    @Test func aNameIsLookedUpWithOrWithoutItsHashAndTwinsAreAmbiguous() {
        let names = names(1, [("u1", "General"), ("u2", "dev"), ("u3", "dev")])
        #expect(names.lookup(name: "#general") == .chat(Self.community + "u1"))
        #expect(names.lookup(name: "GENERAL") == .chat(Self.community + "u1"))
        #expect(names.lookup(name: "random") == .notAName)
        guard case .ambiguous(let twins) = names.lookup(name: "dev") else { Issue.record("two channels are named dev"); return }
        #expect(twins.map(\.chatID) == [Self.community + "u2", Self.community + "u3"])
    }

    @Test func aPurgeForgetsTheNames() async throws {
        let db = try database()
        try await db.follow(FollowedCommunity(communityID: Self.community, settings: Data("{}".utf8), joinedAt: 1))
        try await db.recordChannelNames(names(5, [("u1", "general")]), communityID: Self.community)
        _ = try await db.unfollow(communityID: Self.community, purge: true)
        #expect(try await db.channelNames(communityID: Self.community) == .none)
    }

    /// `messages` opens read-only and does not migrate: a v11 database still pages, without names.
    @Test func aDatabaseFromBeforeChannelNamesIsReadWithoutThem() async throws {
        let db = try database()
        try await db.pool.write { db in
            try db.execute(sql: """
                DROP TABLE channel_name; DROP TABLE channel_directory;
                DELETE FROM grdb_migrations WHERE identifier = 'v12-channel-names';
                """)
        }
        let reader = try HistoryDatabase(path: db.path, readOnly: true)
        let page = try await reader.messagePage(communityID: Self.community, position: .newest, limit: 10)
        #expect(page.messages.isEmpty && page.channels == .none)
    }
}
