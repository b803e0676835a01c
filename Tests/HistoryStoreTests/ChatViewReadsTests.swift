import Foundation
import StatusWire
import Testing
@testable import HistoryStore
import GRDB

/// How a chat client reads and writes through the store: pages of a channel or of the whole
/// community, newest first, with cursors; local copies posted in batches; joined communities.
@Suite(.timeLimit(.minutes(5))) struct ChatViewReadsTests {
    let community = "0x02aa"

    func temporaryDatabase() throws -> HistoryDatabase {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-view-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try HistoryDatabase(path: directory.appendingPathComponent("history.sqlite").path)
    }

    func message(_ id: String, chat: String = "chat-a", ms: Int64, community: String? = nil) -> StoredMessage {
        StoredMessage(id: id, communityID: community ?? self.community, chatID: chat, contentTopic: "/waku/1/0xaaaaaaaa/rfc26",
                      author: "0x02bb", type: 1, clock: UInt64(ms), timestamp: ms, payload: Data(id.utf8), text: id, source: .local)
    }

    @Test func pagesGoNewestFirstAndTheCursorsWalkTheWholeChannelOnce() async throws {
        let db = try temporaryDatabase()
        // Three messages share a timestamp: the ID orders them, and no page boundary loses one.
        var all = (0..<7).map { message(String(format: "0x%02d", $0), ms: 1000 + Int64($0) * 10) }
        all += ["0x90", "0x91", "0x92"].map { message($0, ms: 1030) }
        all.append(message("0xother", chat: "chat-b", ms: 1035))
        try await db.insertLocalMessages(all)

        var seen: [String] = []
        var page = try await db.messagePage(communityID: community, chatID: "chat-a", position: .newest, limit: 3)
        #expect(page.messages.map(\.id) == ["0x06", "0x05", "0x04"])
        seen += page.messages.map(\.id)
        while let older = page.older {
            page = try await db.messagePage(communityID: community, chatID: "chat-a", position: .before(older), limit: 3)
            seen += page.messages.map(\.id)
        }
        #expect(seen == ["0x06", "0x05", "0x04", "0x92", "0x91", "0x90", "0x03", "0x02", "0x01", "0x00"])

        // After a cursor: the messages just newer, still newest first.
        let newer = try await db.messagePage(communityID: community, chatID: "chat-a", position: .after(MessageCursor(timestamp: 1030, id: "0x90")), limit: 3)
        #expect(newer.messages.map(\.id) == ["0x04", "0x92", "0x91"])
        #expect(newer.older == MessageCursor(timestamp: 1030, id: "0x91"))

        // The whole community interleaves its channels.
        let everything = try await db.messagePage(communityID: community, position: .newest, limit: 2)
        #expect(everything.messages.map(\.id) == ["0x06", "0x05"])
        let next = try await db.messagePage(communityID: community, position: .before(try #require(everything.older)), limit: 2)
        #expect(next.messages.map(\.id) == ["0x04", "0xother"])
    }

    @Test func cursorsRoundTripAndRejectWhatIsNotOne() {
        let cursor = MessageCursor(timestamp: 1_764_460_800_000, id: "0x3fab")
        #expect(MessageCursor(cursor.description) == cursor)
        #expect(MessageCursor("1764460800000-1234-5") == MessageCursor(timestamp: 1_764_460_800_000, id: "1234-5"))
        for bad in ["", "abc", "12", "12-", "-0x01", "x-0x01", "-5-0x01"] { #expect(MessageCursor(bad) == nil, "\(bad)") }
    }

    /// "Serve every listing from an index": the plans of both listings, read from SQLite.
    @Test func listingsAreServedFromAnIndexNotASortOfTheHistory() async throws {
        let db = try temporaryDatabase()
        try await db.insertLocalMessages([message("0x01", ms: 1)])
        func plan(_ sql: String) throws -> String {
            try db.read { db in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String }.joined(separator: "; ") }
        }
        let community = try plan("SELECT * FROM message WHERE community_id = '0x02aa' ORDER BY timestamp DESC, id DESC LIMIT 51")
        #expect(community.contains("message_row_by_time"), "\(community)")
        #expect(!community.contains("USE TEMP B-TREE FOR ORDER BY"), "\(community)")
        let channel = try plan("SELECT * FROM message WHERE community_id = '0x02aa' AND chat_id = 'chat-a' AND timestamp <= 5 AND (timestamp < 5 OR id < 'x') ORDER BY timestamp DESC, id DESC LIMIT 51")
        #expect(channel.contains("message_row_by_chat"), "\(channel)")
        #expect(!channel.contains("USE TEMP B-TREE FOR ORDER BY"), "\(channel)")
    }

    @Test func postingTheSameLocalCopiesTwiceStoresThemOnce() async throws {
        let db = try temporaryDatabase()
        let batch = [message("0x01", ms: 1), message("0x02", ms: 2), message("0x01", ms: 1)]
        #expect(try await db.insertLocalMessages(batch) == LocalCopiesResult(inserted: 2, alreadyStored: 1))
        #expect(try await db.insertLocalMessages(batch) == LocalCopiesResult(inserted: 0, alreadyStored: 3))
        // The same ID in another community is another message.
        #expect(try await db.insertLocalMessages([message("0x01", ms: 1, community: "0x02cc")]) == LocalCopiesResult(inserted: 1, alreadyStored: 0))
        #expect(try db.messageCount(communityID: community) == 2)
    }

    @Test func leavingWithPurgeDeletesOnlyThatCommunitysHistory() async throws {
        let db = try temporaryDatabase()
        try await db.insertLocalMessages([message("0x01", ms: 1), message("0x02", ms: 2), message("0x01", ms: 1, community: "0x02cc")])
        try await db.recordOutcome(communityID: community, error: "boom")
        try await db.follow(FollowedCommunity(communityID: community, settings: Data(#"{"id":"0x02aa"}"#.utf8), joinedAt: 5))
        try await db.follow(FollowedCommunity(communityID: "0x02cc", settings: Data(#"{"id":"0x02cc"}"#.utf8), joinedAt: 6))
        #expect(try await db.followedCommunities().map(\.communityID) == [community, "0x02cc"])

        #expect(try await db.unfollow(communityID: "0x02cc", purge: false) == 0)
        #expect(try db.messageCount(communityID: "0x02cc") == 1)
        #expect(try await db.unfollow(communityID: community, purge: true) == 2)
        #expect(try await db.followedCommunities().isEmpty)
        #expect(try db.messageCount(communityID: community) == 0)
        #expect(try db.messageCount(communityID: "0x02cc") == 1)
        #expect(try await db.communityStatuses().map(\.communityID) == ["0x02cc"])
    }
}

extension ChatViewReadsTests {
    /// `status`'s weeks: each archive of the index by what became of it.
    @Test func weekCoverageSaysWhatBecameOfEachArchive() async throws {
        let db = try temporaryDatabase()
        let ids = (0..<6).map { ArchiveID(hashing: [UInt8($0)]) }
        let cids = try (0..<6).map { try CID.codex(of: [UInt8($0)]).manifestCID }
        let entries = (0..<6).map { IndexEntryRecord(archiveID: ids[$0].string, cid: cids[$0].string, from: UInt64($0) * 604_800, to: UInt64($0 + 1) * 604_800) }
        try await db.saveIndexEntries(communityID: community, indexCID: "zIndex", entries: entries)
        _ = try await db.hydrate(archive: ArchiveRecord(id: ids[0].string, communityID: community, cid: cids[0].string), mode: .replace) { _ in
            ArchiveContentSummary(from: 0, to: 604_800, contentTopics: [], entryCount: 0, rejections: [:])
        }
        try await db.recordDownloaded(DownloadedArchiveRecord(id: ids[1], communityID: community, cid: cids[1], path: "/nowhere", from: 604_800, to: 1_209_600, contentTopics: []))
        try await db.recordFailure(archiveID: ids[2].string, communityID: community, reason: "HTTP 500", disposition: .retrying)
        try await db.recordFailure(archiveID: ids[3].string, communityID: community, reason: "too big", disposition: .overLimit)
        try await db.recordFailure(archiveID: ids[4].string, communityID: community, reason: "bad signature", disposition: .rejected(decoderRevision: 1))
        let states = try await db.weekCoverage(communityID: community, decoderRevision: 1).map(\.state)
        #expect(states == [.present, .pending, .failed, .overLimit, .unreadable, .missing])
        // A newer decoder reads a rejected archive again: it is not "never".
        await #expect(try db.weekCoverage(communityID: community, decoderRevision: 2).map(\.state)[4] == .failed)
        #expect(try await db.hasIndexEntries(communityID: community))
        #expect(try await !db.hasIndexEntries(communityID: "0x02cc"))
    }
}
