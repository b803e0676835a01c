import Foundation
import GRDB
import Synchronization
import Testing
@testable import HistoryStore

/// An import decodes and verifies outside the history database's write lock (issue 10): a chat
/// client's write waits only for the short transaction that applies the archive.
@Suite(.timeLimit(.minutes(5))) struct StagedImportTests {
    let community = "0x02aa"
    let topic = "/waku/1/0xaaaaaaaa/rfc26"
    let archive = ArchiveRecord(id: "0xarchive", communityID: "0x02aa", cid: "zCID")

    func temporaryDatabase() throws -> HistoryDatabase {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("staged-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try HistoryDatabase(path: directory.appendingPathComponent("history.sqlite").path)
    }

    func message(_ id: String, seconds: Int64, text: String, source: StoredMessage.Source) -> StoredMessage {
        StoredMessage(id: id, communityID: community, chatID: "chat", contentTopic: topic, author: "0x02bb",
                      type: 1, clock: UInt64(seconds * 1000), timestamp: seconds * 1000, payload: Data(text.utf8),
                      text: text, source: source)
    }

    var summary: ArchiveContentSummary {
        ArchiveContentSummary(from: 1000, to: 2000, contentTopics: [topic], entryCount: 2, rejections: [:])
    }

    /// A chat client (another connection) writes while the archive is being decoded. Before,
    /// decoding ran inside `BEGIN IMMEDIATE` and the client's write could never get the lock (the
    /// decode waits for it: it failed with SQLITE_BUSY); now it succeeds, and the import's own
    /// replace rules then apply to it. The client waits up to 10 s, as a chat client's busy
    /// timeout lets it: the apply thread, starting beside the decode, takes the lock for its
    /// first short transaction (the archive's pending reference) at a moment the test does not
    /// choose, and a client that could not wait at all failed when the two met (CI, 2026-12-05).
    @Test func aChatClientWritesWhileAnArchiveIsDecoded() async throws {
        let db = try temporaryDatabase()
        var clientConfiguration = Configuration()
        clientConfiguration.busyMode = .timeout(10)
        let client = try DatabaseQueue(path: db.path, configuration: clientConfiguration)
        let counts = try await db.hydrate(archive: archive, mode: .replace) { writer in
            try writer.write(message("0x01", seconds: 1100, text: "archived 1", source: .archive))
            // Mid-decode: the client stores two live messages, one the archive holds.
            try client.write { clientDB in
                try clientDB.execute(sql: """
                    INSERT INTO message (id, community_id, chat_id, content_topic, author, type, clock, timestamp, payload, text, source)
                    VALUES ('0x01', ?, 'chat', ?, '0x02bb', 1, 1, 1100000, x'00', 'live copy of 1', 'local'),
                           ('0x09', ?, 'chat', ?, '0x02bb', 1, 1, 1900000, x'00', 'live, never archived', 'local')
                    """, arguments: [community, topic, community, topic])
            }
            try writer.write(message("0x02", seconds: 1200, text: "archived 2", source: .archive))
            return summary
        }
        // The archive replaced the client's copy of 0x01 and removed the copy it does not hold.
        #expect(counts == HydrationCounts(stored: 1, replaced: 1, unchanged: 0, removed: 1))
        #expect(try db.messages(communityID: community).map(\.id).sorted() == ["0x01", "0x02"])
        #expect(try db.message(id: "0x01")?.text == "archived 1")
    }

    /// A message an archive holds twice counts once as stored; the later copy is the one kept.
    @Test func aMessageHeldTwiceIsStoredOnceAndTheLaterCopyWins() async throws {
        let db = try temporaryDatabase()
        try await db.insertLocalMessages([message("0x01", seconds: 1100, text: "live", source: .local)])
        let counts = try await db.hydrate(archive: archive, mode: .replace) { writer in
            try writer.write(message("0x01", seconds: 1100, text: "first copy", source: .archive))
            try writer.write(message("0x02", seconds: 1200, text: "new", source: .archive))
            try writer.write(message("0x01", seconds: 1100, text: "second copy", source: .archive))
            return summary
        }
        #expect(counts == HydrationCounts(stored: 1, replaced: 1, unchanged: 1, removed: 0))
        #expect(try db.message(id: "0x01")?.text == "second copy")

        let merged = try await db.hydrate(archive: ArchiveRecord(id: "0xmerged", communityID: community, cid: "zM"), mode: .merge) { writer in
            try writer.write(message("0x03", seconds: 1300, text: "first", source: .archive))
            try writer.write(message("0x03", seconds: 1300, text: "second", source: .archive))
            try writer.write(message("0x01", seconds: 1100, text: "not taken", source: .archive))
            return summary
        }
        #expect(merged == HydrationCounts(stored: 1, replaced: 0, unchanged: 2, removed: 0))
        #expect(try db.message(id: "0x03")?.text == "first")
        #expect(try db.message(id: "0x01")?.text == "second copy")
    }

    /// The apply binds through SQLite's C API: every column must come back as it went in,
    /// empty values included (an empty text or payload is not NULL), and a clock above Int64.max, through
    /// rows on both sides of the writer's cancellation check (every `cancellationCheckInterval` rows).
    @Test func everyColumnSurvivesTheApply() async throws {
        let db = try temporaryDatabase()
        let messages = [
            StoredMessage(id: "0x01", communityID: community, chatID: "chat-é", contentTopic: topic, author: "0x02bb", type: 1,
                          clock: UInt64.max - 1, timestamp: 1_100_000, payload: Data(), text: "", thirdPartyID: nil, source: .archive),
            StoredMessage(id: "discord-7", communityID: community, chatID: nil, contentTopic: topic, author: "0x02cc", type: 22,
                          clock: nil, timestamp: 1_200_000, payload: Data([0, 1, 2, 0]), text: nil, thirdPartyID: "discord-7",
                          source: .archive),
            StoredMessage(id: "0x03", communityID: community, chatID: "chat", contentTopic: topic, author: "0x02dd", type: 1,
                          clock: 0, timestamp: 1_300_000, payload: Data(repeating: 7, count: 70_000), text: "héllo 👋 tail",
                          thirdPartyID: "", source: .archive),
        ]
        _ = try await db.hydrate(archive: archive, mode: .replace) { writer in
            // So that the second lands on the write that checks for cancellation.
            for n in 0..<(ArchiveHydrationWriter.cancellationCheckInterval - 2) {
                try writer.write(message("0xfill\(n)", seconds: 1500, text: "filler", source: .archive))
            }
            for message in messages { try writer.write(message) }
            return summary
        }
        for message in messages {
            var expected = message
            expected.archiveID = archive.id
            #expect(try db.message(id: message.id, communityID: community) == expected)
        }
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message WHERE text IS NULL") } == 1)
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message WHERE payload IS NULL") } == 0)
    }

    /// The claim file goes when the import ends, committed or not; a killed process's file is
    /// removed by the next start (an earlier version's staging database too), a running
    /// process's file is not.
    @Test func stagingFilesDoNotOutliveTheirImport() async throws {
        let db = try temporaryDatabase()
        let directory = HistoryDatabase.stagingDirectory(historyPath: db.path)
        // Each import's claim file, or an earlier version's staging database without its WAL
        // (`-wal`, `-shm`), which goes with it.
        @Sendable func stagingFiles() throws -> [String] {
            FileManager.default.fileExists(atPath: directory)
                ? try FileManager.default.contentsOfDirectory(atPath: directory)
                    .filter { name in ImportClaim.sweptSuffixes.contains { name.hasSuffix($0) } } : []
        }
        let seenDuringImport = Mutex<[String]>([])
        _ = try await db.hydrate(archive: archive, mode: .replace) { writer in
            try writer.write(message("0x01", seconds: 1100, text: "a", source: .archive))
            let files = try stagingFiles()
            seenDuringImport.withLock { $0 = files }
            return summary
        }
        #expect(seenDuringImport.withLock { $0 }.map { $0.hasSuffix(ImportClaim.suffix) } == [true])
        #expect(try stagingFiles().isEmpty)

        struct Failure: Error {}
        await #expect(throws: Failure.self) {
            try await db.hydrate(archive: ArchiveRecord(id: "0xother", communityID: community, cid: "z2"), mode: .replace) { _ in throw Failure() }
        }
        #expect(try stagingFiles().isEmpty)

        // A killed import's file, named with this process's PID (a container's agent is PID 1 on
        // every start), and a running import's, locked as `ImportClaim` locks its own; and an
        // earlier version's killed staging database.
        let killed = directory + "/\(getpid())-killed" + ImportClaim.suffix
        #expect(FileManager.default.createFile(atPath: killed, contents: nil))
        let abandoned = directory + "/\(getpid())-killed.sqlite"
        let running = directory + "/\(getpid())-running.sqlite"
        #expect(FileManager.default.createFile(atPath: abandoned, contents: Data("x".utf8)))
        #expect(FileManager.default.createFile(atPath: running, contents: Data("x".utf8)))
        let held = open(running, O_RDWR)
        defer { close(held) }
        #expect(flock(held, LOCK_EX | LOCK_NB) == 0)
        // A killed import's WAL, and the rollback journal SQLite writes while switching a new
        // file to WAL mode, left without their file (regression: a crash trial left one).
        let orphan = directory + "/\(getpid())-gone.sqlite-journal"
        let abandonedWAL = abandoned + "-wal"
        #expect(FileManager.default.createFile(atPath: orphan, contents: Data("x".utf8)))
        #expect(FileManager.default.createFile(atPath: abandonedWAL, contents: Data("x".utf8)))
        let sweep = db.removeAbandonedStagingFiles()
        #expect(Set(sweep.removed) == [killed, abandoned, orphan] && sweep.failures.isEmpty)
        #expect(try stagingFiles() == ["\(getpid())-running.sqlite"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["\(getpid())-running.sqlite"])
    }

    /// Issue 27, a start-up race: the scratch file was created under its name and locked
    /// after, so another community's start-up sweep could take it in between. It is now made
    /// under a name the sweep leaves alone while it is locked, and named once locked; and the
    /// sweep runs once per process, before any of its imports.
    @Test func aStagingFileIsLockedBeforeItIsVisibleAndTheSweepRunsOnce() throws {
        let db = try temporaryDatabase()
        let directory = HistoryDatabase.stagingDirectory(historyPath: db.path)
        #expect(db.removeAbandonedStagingFilesOnce() != nil)
        #expect(db.removeAbandonedStagingFilesOnce() == nil, "once per process and database")

        let staging = try ImportClaim(historyPath: db.path)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(names.allSatisfy { !$0.hasSuffix(ImportClaim.creatingSuffix) }, "\(names)")
        #expect(names.contains(URL(fileURLWithPath: staging.path).lastPathComponent))
        // Held from the moment it has its name: a sweep leaves it.
        #expect(db.removeAbandonedStagingFiles().removed.isEmpty)
        #expect(FileManager.default.fileExists(atPath: staging.path))

        // One being created (young, not locked yet, or locked) is left; one a crash left
        // half-made long ago (unlocked) is taken.
        let young = directory + "/\(getpid())-young" + ImportClaim.suffix + ImportClaim.creatingSuffix
        let creating = directory + "/\(getpid())-creating" + ImportClaim.suffix + ImportClaim.creatingSuffix
        let leftover = directory + "/\(getpid())-leftover" + ImportClaim.suffix + ImportClaim.creatingSuffix
        let old = Date(timeIntervalSinceNow: -3_600)
        #expect(FileManager.default.createFile(atPath: young, contents: nil))
        #expect(FileManager.default.createFile(atPath: creating, contents: nil, attributes: [.modificationDate: old]))
        #expect(FileManager.default.createFile(atPath: leftover, contents: nil, attributes: [.modificationDate: old]))
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: creating)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: leftover)
        let held = open(creating, O_RDWR)
        defer { close(held) }
        #expect(flock(held, LOCK_EX | LOCK_NB) == 0)
        #expect(db.removeAbandonedStagingFiles().removed == [leftover])
        #expect(FileManager.default.fileExists(atPath: creating) && FileManager.default.fileExists(atPath: young))
    }
}
