import Foundation
import Testing
@testable import HistoryStore
import GRDB

@Suite(.timeLimit(.minutes(5))) struct HydrationTests {
    let community = "0x02aa"
    let topicA = "/waku/1/0xaaaaaaaa/rfc26"
    let topicB = "/waku/1/0xbbbbbbbb/rfc26"
    // Archive covers [1000 s, 2000 s) on topicA.
    let archive = ArchiveRecord(id: "0xarchive", communityID: "0x02aa", cid: "zCID")

    func temporaryDatabase() throws -> HistoryDatabase {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hydration-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try HistoryDatabase(path: directory.appendingPathComponent("history.sqlite").path)
    }

    func message(_ id: String, topic: String? = nil, seconds: Int64, text: String, source: StoredMessage.Source) -> StoredMessage {
        StoredMessage(id: id, communityID: community, chatID: "chat", contentTopic: topic ?? topicA, author: "0x02bb",
                      type: 1, clock: UInt64(seconds * 1000), timestamp: seconds * 1000, payload: Data(text.utf8),
                      text: text, source: source)
    }

    func summary(entries: Int) -> ArchiveContentSummary {
        ArchiveContentSummary(from: 1000, to: 2000, contentTopics: [topicA], entryCount: entries, rejections: [:])
    }

    func seedLocalCopies(_ db: HistoryDatabase) async throws {
        try await db.insertLocalMessages([
            message("0x01", seconds: 1100, text: "local draft of 1", source: .local),   // replaced
            message("0x02", seconds: 1200, text: "spam never archived", source: .local), // removed
            message("0x03", seconds: 2000, text: "at `to`: outside", source: .local),   // kept (half-open)
            message("0x04", seconds: 999, text: "before `from`", source: .local),       // kept
            message("0x05", topic: topicB, seconds: 1300, text: "other topic", source: .local), // kept
            message("0x06", seconds: 1000, text: "at `from`: inside", source: .local),  // removed
        ])
    }

    @Test func replaceModeMakesTheArchiveCanonicalForItsRange() async throws {
        let db = try temporaryDatabase()
        try await seedLocalCopies(db)
        let counts = try await db.hydrate(archive: archive, mode: .replace) { writer in
            try writer.write(message("0x01", seconds: 1100, text: "archived 1", source: .archive))
            try writer.write(message("0x10", seconds: 1500, text: "archived 10", source: .archive))
            return summary(entries: 2)
        }
        #expect(counts == HydrationCounts(stored: 1, replaced: 1, unchanged: 0, removed: 2))
        let ids = try db.messages(communityID: community).map(\.id).sorted()
        #expect(ids == ["0x01", "0x03", "0x04", "0x05", "0x10"])
        let replaced = try #require(try db.message(id: "0x01"))
        #expect(replaced.text == "archived 1" && replaced.source == .archive && replaced.archiveID == "0xarchive")
        #expect(try db.isImported(archiveID: archive.id))
        #expect(try db.importedArchives(communityID: community).first?.removedCount == 2)
    }

    /// Regression (issue 9, defect 2): `message.id` alone was the key, so importing community B
    /// moved a Discord-style ID out of community A.
    @Test func oneCommunityNeverRewritesAnothersMessage() async throws {
        let db = try temporaryDatabase()
        _ = try await db.hydrate(archive: archive, mode: .replace) { writer in
            try writer.write(message("discord-900002", seconds: 1100, text: "said in A", source: .archive))
            return summary(entries: 1)
        }
        var said = message("discord-900002", seconds: 1100, text: "said in B", source: .archive)
        said.communityID = "0x03bb"
        let other = said
        _ = try await db.hydrate(archive: ArchiveRecord(id: "0xarchiveB", communityID: "0x03bb", cid: "zB"), mode: .replace) { writer in
            try writer.write(other)
            return ArchiveContentSummary(from: 1000, to: 2000, contentTopics: [topicA], entryCount: 1, rejections: [:])
        }
        #expect(try db.messages(communityID: community).first { $0.id == "discord-900002" }?.text == "said in A")
        #expect(try db.messages(communityID: "0x03bb").first { $0.id == "discord-900002" }?.text == "said in B")
        #expect(try db.messageCount(communityID: community) == 1 && db.messageCount(communityID: "0x03bb") == 1)
    }

    /// Regression (issue 9, defect 2): an archive took over rows another archive of the same
    /// community had stored.
    @Test func anArchiveNeverTakesOverAnotherArchivesRows() async throws {
        let db = try temporaryDatabase()
        _ = try await db.hydrate(archive: archive, mode: .replace) { writer in
            try writer.write(message("0x10", seconds: 1500, text: "first archive's", source: .archive))
            return summary(entries: 1)
        }
        let counts = try await db.hydrate(archive: ArchiveRecord(id: "0xsecond", communityID: community, cid: "z2"), mode: .replace) { writer in
            try writer.write(message("0x10", seconds: 1500, text: "rewritten", source: .archive))
            return summary(entries: 1)
        }
        #expect(counts == HydrationCounts(stored: 0, replaced: 0, unchanged: 1, removed: 0))
        let row = try #require(try db.messages(communityID: community).first { $0.id == "0x10" })
        #expect(row.text == "first archive's" && row.archiveID == "0xarchive")
    }

    /// A database of schema v4 keeps every row when it is opened (and so migrated to v5).
    @Test func messagesSurviveTheMigrationToPerCommunityKeys() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("history.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try Schema.migrator.migrate(queue, upTo: "v4-permanent-rejections")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO message (id, community_id, content_topic, author, type, timestamp, payload, source)
                VALUES ('0x01', '0x02aa', 't', 'a', 1, 5, x'00', 'local'), ('0x02', '0x02aa', 't', 'a', 1, 6, x'00', 'archive')
                """)
        }
        try queue.close()
        let db = try HistoryDatabase(path: path)
        #expect(try db.messages(communityID: "0x02aa").map(\.id) == ["0x01", "0x02"])
        #expect(try db.appliedMigrations().last == HistoryDatabase.knownMigrations.last)
    }

    /// v8 stores community, chat, topic and archive as references; the `message` view must
    /// show every row of a v7 database exactly as it was, and take a chat client's inserts.
    @Test func theCompactSchemaShowsEveryRowAsBefore() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migrate-v8-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("history.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try Schema.migrator.migrate(queue, upTo: "v7-failure-disposition")
        let all = "SELECT * FROM message ORDER BY community_id, id"
        let before = try queue.write { db in
            try db.execute(sql: """
                INSERT INTO message (id, community_id, chat_id, content_topic, author, type, clock, timestamp, payload, text,
                                     third_party_id, source, archive_id)
                VALUES ('0x01', '0x02aa', '0x02aa-chat1', '/waku/1/0x01/rfc26', '0x03bb', 1, 7, 5000, x'0102', 'hi', NULL, 'local', NULL),
                       ('0x02', '0x02aa', NULL, '/waku/1/0x02/rfc26', '0x03cc', 22, NULL, 6000, x'', NULL, NULL, 'archive', '0xarc1'),
                       ('discord-42', '0x02aa', '0x02aa-chat1', '/waku/1/0x01/rfc26', '0x03bb', 1, 9, 7000, x'ff', 'imported', 'discord-42', 'archive', NULL),
                       ('0x01', '0x02dd', '0x02dd-chat', '/waku/1/0x01/rfc26', '0x03bb', 1, 1, 8000, x'00', 'same ID, other community', NULL, 'archive', '0xarc2')
                """)
            return try Row.fetchAll(db, sql: all)
        }
        try queue.close()
        let db = try HistoryDatabase(path: path)
        let after = try db.read { try Row.fetchAll($0, sql: all) }
        #expect(after == before)
        #expect(try db.read { try String.fetchOne($0, sql: "SELECT type FROM sqlite_master WHERE name = 'message'") } == "view")

        // A chat client inserting into `message` as before: a plain INSERT of a new copy works
        // (its community and chat already named), a copy already there is refused or ignored.
        let client = try DatabaseQueue(path: path)
        try await client.write { clientDB in
            try clientDB.execute(sql: """
                INSERT INTO message (id, community_id, chat_id, content_topic, author, type, timestamp, payload, source)
                VALUES ('0x09', '0x02aa', '0x02aa-chat1', '/waku/1/0x09/rfc26', '0x03bb', 1, 9000, x'', 'local')
                """)
        }
        #expect(throws: DatabaseError.self) {
            try client.write { clientDB in
                try clientDB.execute(sql: """
                    INSERT INTO message (id, community_id, content_topic, author, type, timestamp, payload, source)
                    VALUES ('0x09', '0x02aa', '/waku/1/0x09/rfc26', '0x03bb', 1, 9000, x'', 'local')
                    """)
            }
        }
        #expect(throws: DatabaseError.self) {
            try client.write { clientDB in
                try clientDB.execute(sql: """
                    INSERT INTO message (id, community_id, content_topic, author, type, timestamp, payload, source)
                    VALUES ('0x0a', '0x02aa', '/waku/1/0x09/rfc26', '0x03bb', 1, 9000, x'', 'neither')
                    """)
            }
        }
        try await db.insertLocalMessages([StoredMessage(id: "0x09", communityID: "0x02aa", chatID: nil, contentTopic: "/waku/1/0x09/rfc26",
                                                  author: "0x03bb", type: 1, clock: nil, timestamp: 1, payload: Data(), text: "again", source: .local)])
        let copy = try #require(try db.message(id: "0x09", communityID: "0x02aa"))
        #expect(copy.chatID == "0x02aa-chat1" && copy.contentTopic == "/waku/1/0x09/rfc26" && copy.source == .local && copy.timestamp == 9000)
        #expect(try db.messageCount(communityID: "0x02aa") == 4)
    }

    @Test func mergeModeAddsOnlyWhatIsMissing() async throws {
        let db = try temporaryDatabase()
        try await seedLocalCopies(db)
        let counts = try await db.hydrate(archive: archive, mode: .merge) { writer in
            try writer.write(message("0x01", seconds: 1100, text: "archived 1", source: .archive))
            try writer.write(message("0x10", seconds: 1500, text: "archived 10", source: .archive))
            return summary(entries: 2)
        }
        #expect(counts == HydrationCounts(stored: 1, replaced: 0, unchanged: 1, removed: 0))
        #expect(try db.message(id: "0x01")?.text == "local draft of 1")
        #expect(try db.messageCount() == 7)
    }

    @Test func aFailingImportLeavesTheDatabaseAsItWas() async throws {
        let db = try temporaryDatabase()
        try await seedLocalCopies(db)
        let before = try db.messageDigest()
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await db.hydrate(archive: archive, mode: .replace) { writer in
                try writer.write(message("0x01", seconds: 1100, text: "archived 1", source: .archive))
                try writer.write(message("0x11", seconds: 1600, text: "archived 11", source: .archive))
                throw Boom()
            }
        }
        #expect(try db.messageDigest() == before)
        #expect(try !db.isImported(archiveID: archive.id))
        // And the next attempt starts clean (no leftovers in the seen-set).
        let counts = try await db.hydrate(archive: archive, mode: .replace) { writer in
            try writer.write(message("0x10", seconds: 1500, text: "archived 10", source: .archive))
            return summary(entries: 1)
        }
        #expect(counts.removed == 3)
        #expect(try db.message(id: "0x11") == nil)
    }

    @Test func reimportingTheSameArchiveChangesNothing() async throws {
        let db = try temporaryDatabase()
        try await seedLocalCopies(db)
        let body: @Sendable (ArchiveHydrationWriter) throws -> ArchiveContentSummary = { writer in
            try writer.write(message("0x01", seconds: 1100, text: "archived 1", source: .archive))
            try writer.write(message("0x10", seconds: 1500, text: "archived 10", source: .archive))
            return summary(entries: 2)
        }
        _ = try await db.hydrate(archive: archive, mode: .replace, body: body)
        let digest = try db.messageDigest()
        await #expect(throws: HistoryStoreError.self) { try await db.hydrate(archive: archive, mode: .replace, body: body) }
        let again = try await db.hydrate(archive: archive, mode: .replace, force: true, body: body)
        #expect(again == HydrationCounts(stored: 0, replaced: 0, unchanged: 2, removed: 0))
        #expect(try db.messageDigest() == digest)
    }

    @Test func digestSeesEveryColumn() async throws {
        let db = try temporaryDatabase()
        try await db.insertLocalMessages([message("0x01", seconds: 1, text: "a", source: .local)])
        let first = try db.messageDigest()
        let other = try temporaryDatabase()
        try await other.insertLocalMessages([message("0x01", seconds: 1, text: "b", source: .local)])
        #expect(try other.messageDigest() != first)
    }

    @Test func databaseIsInWALModeWithMigrations() async throws {
        let db = try temporaryDatabase()
        #expect(try db.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
        #expect(try db.appliedMigrations() == ["v1-history", "v2-downloads", "v3-agent-status", "v4-permanent-rejections",
                                               "v5-message-per-community", "v6-processed-selection", "v7-failure-disposition",
                                               "v8-compact-messages", "v9-pending-archive-rows", "v10-chat-view-and-followed", "v11-index-entries",
                                               "v12-channel-names", "v13-key-waits", "v14-held-messages", "v15-chat-keys", "v16-store-catch-up"])
    }

    @Test func rejectedArchivesAreRememberedUntilTheDecoderChanges() async throws {
        let db = try temporaryDatabase()
        try await db.recordFailure(archiveID: "0xbad", communityID: community, reason: "encrypted", disposition: .rejected(decoderRevision: 1))
        try await db.recordFailure(archiveID: "0xcut", communityID: community, reason: "download: cut", disposition: .retrying)   // may heal: not a rejection
        try await db.recordFailure(archiveID: "0xother", communityID: "0x03cc", reason: "encrypted", disposition: .rejected(decoderRevision: 1))
        #expect(try db.rejectedArchives(communityID: community, decoderRevision: 1) == ["0xbad": "encrypted"])
        // A newer decoder may read it: the rejection no longer counts.
        #expect(try db.rejectedArchives(communityID: community, decoderRevision: 2).isEmpty)
        // Imported after all (e.g. a newer decoder): forgotten.
        try db.clearFailure(archiveID: "0xbad")
        #expect(try db.rejectedArchives(communityID: community, decoderRevision: 1).isEmpty)
    }

    @Test func indexStateRoundTrips() throws {
        let db = try temporaryDatabase()
        #expect(try db.indexState(communityID: community) == nil)
        let state = CommunityIndexState(communityID: community, indexCID: "zA", indexClock: 42, processedIndexCID: "zB", processedSelection: "latest")
        try db.saveIndexState(state)
        #expect(try db.indexState(communityID: community) == state)
    }

    @Test func unopenableDatabaseSaysWhere() {
        #expect {
            _ = try HistoryDatabase(path: "/nonexistent-dir/history.sqlite")
        } throws: { error in
            "\(error)".contains("/nonexistent-dir/history.sqlite")
        }
    }
}
