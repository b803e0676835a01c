import Foundation
import GRDB
import Synchronization
import Testing
@testable import HistoryStore

/// An import copies an archive's rows in chunks of short transactions, with the write lock free
/// between them, and publishes them in one last transaction (issue 10): a chat client's write
/// waits for one chunk, and no reader ever sees part of an archive.
@Suite(.timeLimit(.minutes(5))) struct ChunkedApplyTests {
    let community = "0x02aa"
    let topic = "/waku/1/0xaaaaaaaa/rfc26"
    let archive = ArchiveRecord(id: "0xarchive", communityID: "0x02aa", cid: "zCID")

    func temporaryDatabase(pacing: ApplyPacing) throws -> HistoryDatabase {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chunked-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try HistoryDatabase(path: directory.appendingPathComponent("history.sqlite").path, applyPacing: pacing)
    }

    func message(_ id: String, seconds: Int64, text: String, source: StoredMessage.Source = .archive) -> StoredMessage {
        StoredMessage(id: id, communityID: community, chatID: "chat", contentTopic: topic, author: "0x02bb",
                      type: 1, clock: UInt64(seconds * 1000), timestamp: seconds * 1000, payload: Data(text.utf8),
                      text: text, source: source)
    }

    func summary(entries: Int) -> ArchiveContentSummary {
        ArchiveContentSummary(from: 1000, to: 2000, contentTopics: [topic], entryCount: entries, rejections: [:])
    }

    /// Pacing for tests: `rows` per chunk, a pause after every chunk, and `pause` run in it.
    static func pacing(rows: Int64, pause: @escaping @Sendable (Duration) -> Void = { _ in }) -> ApplyPacing {
        ApplyPacing(chunkRows: rows, pauseAfterHoldsOver: .zero, sleep: pause)
    }

    /// The pause after a transaction is as long as the sleep SQLite's default busy handler is in
    /// once a writer has waited that long (main.c's table), so a writer that began to wait during
    /// the transaction tries again within the pause.
    @Test func thePauseCoversTheBusyHandlersSleep() {
        let pacing = ApplyPacing(chunkRows: 10, pauseAfterHoldsOver: .milliseconds(25), pauseMargin: .zero)
        #expect(pacing.pause(afterHolding: .milliseconds(20)) == nil)
        #expect(pacing.pause(afterHolding: .milliseconds(60)) == .milliseconds(25))  // waited 53-78 ms: sleeps 25
        #expect(pacing.pause(afterHolding: .milliseconds(130)) == .milliseconds(50))  // 128-178: 50
        #expect(pacing.pause(afterHolding: .milliseconds(228)) == .milliseconds(100))
        #expect(pacing.pause(afterHolding: .seconds(3)) == .milliseconds(100))
        #expect(ApplyPacing.busyHandlerSleep(afterWaiting: .zero) == .milliseconds(1))
    }

    /// A database whose apply pauses after every transaction, and in each pause records the
    /// archived rows stored (hidden or not, read on a connection of its own) and signals `paused`.
    final class PauseRecorder: Sendable {
        let stored = Mutex<[Int]>([])
        let paused = DispatchSemaphore(value: 0)
        private let path = Mutex<String?>(nil)

        func database(in suite: ChunkedApplyTests, transactionTime: Duration, chunksToStart: Int = 1) throws -> HistoryDatabase {
            let db = try suite.temporaryDatabase(pacing: ApplyPacing(
                chunkRows: 3, waitingChunks: 8, transactionTime: transactionTime, chunksToStart: chunksToStart,
                pauseAfterHoldsOver: .zero, sleep: { [self] _ in pause() }))
            path.withLock { $0 = db.path }
            return db
        }

        private func pause() {
            guard let path = path.withLock({ $0 }) else { return }
            let count = (try? DatabaseQueue(path: path).read {
                try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message_row WHERE is_archived = 1")
            }) ?? -1
            stored.withLock { $0.append(count) }
            paused.signal()
        }

        /// Whether a pause comes within `seconds`.
        func waitForPause(seconds: Double) -> Bool { paused.wait(timeout: .now() + seconds) == .success }
    }

    /// Imports `rows` archived rows (`0x0`…) into `db`, every chunk of them handed over before the
    /// apply thread can take the lock: a chat client holds it while the archive is read.
    func hydrateWithEveryChunkWaiting(_ db: HistoryDatabase, rows: Int) async throws -> HydrationCounts {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)  // the apply thread may hold the lock, briefly, for its pending reference
        let client = try DatabaseQueue(path: db.path, configuration: configuration)
        return try await db.hydrate(archive: archive, mode: .replace) { writer in
            // The apply thread waits for this lock (its busy timeout) while all the rows are handed over.
            try client.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                for n in 0..<rows { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
                try db.execute(sql: "COMMIT")
            }
            return summary(entries: rows)
        }
    }

    /// Stores `ids` as hidden rows under the pending reference `ref`: copies of the local
    /// message `0xlocal`, as an import that has not published them leaves them.
    static func insertHiddenRows(_ ids: [String], under ref: Int64, in db: Database) throws {
        for id in ids {
            try db.execute(sql: """
                INSERT INTO message_row (community_ref, id, chat_ref, topic_ref, author, type, clock, timestamp,
                                         payload, text, third_party_id, is_archived, archive_ref)
                SELECT community_ref, ?, chat_ref, topic_ref, author, type, clock, timestamp, payload, 'hidden', NULL, 1, ?
                FROM message_row WHERE id = '0xlocal'
                """, arguments: [id, ref])
        }
    }

    /// A transaction takes the chunks that already wait, until `transactionTime` (issue 28:
    /// one pause per 100 ms or so, not per chunk). Here every chunk waits before the apply
    /// thread can take the lock (a client holds it while the archive is read), so a long
    /// `transactionTime` writes all three in one transaction, and `.zero` one each.
    @Test(arguments: [(Duration.seconds(600), [9]), (Duration.zero, [3, 6, 9])])
    func aTransactionTakesTheChunksThatWait(transactionTime: Duration, storedAtEachPause: [Int]) async throws {
        let recorder = PauseRecorder()
        let db = try recorder.database(in: self, transactionTime: transactionTime)
        try await db.insertLocalMessages([message("0x4", seconds: 1004, text: "live 4", source: .local)])
        let counts = try await hydrateWithEveryChunkWaiting(db, rows: 9)
        #expect(recorder.stored.withLock { $0 } == storedAtEachPause)
        #expect(counts == HydrationCounts(stored: 8, replaced: 1, unchanged: 0, removed: 0))
        #expect(try db.message(id: "0x4")?.text == "archived 4")
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message WHERE source = 'archive'") } == 9)
    }

    /// An archive's first transaction leaves room for its commit, as measured in the last
    /// transaction before it, of this archive or another (issue 28: with none, each archive's
    /// first transaction held the lock 0.11-0.15 s, not 0.11 at most). Here the commits before cost
    /// 1,000 s a row: the first transaction writes the chunk it started with, and its own commit,
    /// measured, lets the next one take both chunks that wait.
    @Test func anArchivesFirstTransactionLeavesRoomForTheCommitMeasuredBefore() async throws {
        let recorder = PauseRecorder()
        let db = try recorder.database(in: self, transactionTime: .seconds(600))
        db.commitPerRow.withLock { $0 = .seconds(1_000) }
        _ = try await hydrateWithEveryChunkWaiting(db, rows: 9)
        #expect(recorder.stored.withLock { $0 } == [3, 9])
        #expect(db.commitPerRow.withLock { $0 }.map { $0 < .seconds(1) } == true)
    }

    /// A transaction never waits for the next chunk with the lock held: when none waits, it
    /// commits, and the chunk goes into the next transaction. Here the archive's reading waits
    /// for the first pause before it hands over its second chunk; a transaction that waited
    /// for it would hold the lock until the reading gave up (10 s) and write both chunks at once.
    @Test func aTransactionCommitsRatherThanWaitForTheNextChunk() async throws {
        let recorder = PauseRecorder()
        let db = try recorder.database(in: self, transactionTime: .seconds(600))
        let pauseCameFirst = Mutex(false)
        let counts = try await db.hydrate(archive: archive, mode: .replace) { writer in
            for n in 0..<3 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
            pauseCameFirst.withLock { $0 = recorder.waitForPause(seconds: 10) }
            for n in 3..<6 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
            return summary(entries: 6)
        }
        #expect(pauseCameFirst.withLock { $0 })
        #expect(recorder.stored.withLock { $0 } == [3, 6])
        #expect(counts == HydrationCounts(stored: 6, replaced: 0, unchanged: 0, removed: 0))
    }

    /// A transaction starts once `chunksToStart` chunks wait, or reading has ended: when reading
    /// is the slower side, transactions of one small chunk each wrote the same index pages to the
    /// WAL again and again (issue 28). Here reading hands over its first chunk and waits: no
    /// transaction may start (the half-second wait only lets a wrong one show); the second
    /// chunk starts one with both; the third, after reading ended, one of its own.
    @Test func aTransactionStartsOnceEnoughChunksWait() async throws {
        let recorder = PauseRecorder()
        let db = try recorder.database(in: self, transactionTime: .seconds(600), chunksToStart: 2)
        let pausedEarly = Mutex(false)
        let pausedAfterTwoChunks = Mutex(false)
        let counts = try await db.hydrate(archive: archive, mode: .replace) { writer in
            for n in 0..<3 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
            pausedEarly.withLock { $0 = recorder.waitForPause(seconds: 0.5) }
            for n in 3..<6 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
            pausedAfterTwoChunks.withLock { $0 = recorder.waitForPause(seconds: 10) }
            for n in 6..<9 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
            return summary(entries: 9)
        }
        #expect(!pausedEarly.withLock { $0 })
        #expect(pausedAfterTwoChunks.withLock { $0 })
        #expect(recorder.stored.withLock { $0 } == [6, 9])
        #expect(counts == HydrationCounts(stored: 9, replaced: 0, unchanged: 0, removed: 0))
    }

    /// An import cancelled in the pause after its last transaction of rows publishes nothing:
    /// the end of the rows is taken after the pause, where the stop is seen. (A review of
    /// f84ba1e found that a transaction which met the end took it itself, and publishing went
    /// on.) Two chunks to start: the one transaction starts after reading has ended.
    @Test func anImportCancelledInItsLastPausePublishesNothing() async throws {
        let running = Mutex<Task<HydrationCounts, any Error>?>(nil)
        let taskKnown = DispatchSemaphore(value: 0)
        let cancelled = Mutex(false)
        let db = try temporaryDatabase(pacing: ApplyPacing(
            chunkRows: 3, waitingChunks: 8, transactionTime: .seconds(600), chunksToStart: 2, pauseAfterHoldsOver: .zero,
            sleep: { _ in
                // The first pause (the later ones take the hidden rows back).
                guard !cancelled.withLock({ $0 }) else { return }
                _ = taskKnown.wait(timeout: .now() + 10)
                running.withLock { $0 }?.cancel()
                cancelled.withLock { $0 = true }
            }))
        let archive = archive
        let task = Task {
            try await db.hydrate(archive: archive, mode: .replace) { writer in
                for n in 0..<3 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
                return summary(entries: 3)
            }
        }
        running.withLock { $0 = task }
        taskKnown.signal()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(cancelled.withLock { $0 })
        #expect(try !db.isImported(archiveID: archive.id))
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message_row") } == 0)
        #expect(try pendingReferences(db) == 0)
    }

    func pendingReferences(_ db: HistoryDatabase) throws -> Int {
        try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM archive_ref WHERE pending_owner IS NOT NULL") ?? -1 }
    }

    /// In each pause between chunks a chat client (its own connection, no busy timeout: it fails
    /// at once if the lock is held) stores a live message and reads the view. Before this change
    /// the whole archive was one transaction: no pause, so no write could land before the commit.
    @Test func aChatClientWritesBetweenChunksAndNeverSeesHalfAnArchive() async throws {
        struct Seen: Sendable {
            var writes = 0
            var archivedRowsVisible: [Int] = []
            var rowsStored: [Int] = []
            var replacedCopy: [String] = []
            var failures: [String] = []
        }
        let seen = Mutex(Seen())
        let path = Mutex<String?>(nil)
        let db = try temporaryDatabase(pacing: Self.pacing(rows: 3) { _ in
            guard let path = path.withLock({ $0 }) else { return }
            do {
                var configuration = Configuration()
                configuration.busyMode = .immediateError
                let client = try DatabaseQueue(path: path, configuration: configuration)
                let n = seen.withLock { $0.writes }
                try client.write { db in
                    try db.execute(sql: """
                        INSERT INTO message (id, community_id, chat_id, content_topic, author, type, clock, timestamp, payload, text, source)
                        VALUES (?, '0x02aa', 'chat', '/waku/1/0xbbbbbbbb/rfc26', '0x02bb', 1, 1, 5000000, x'00', 'live', 'local')
                        """, arguments: ["0xlive\(n)"])
                }
                let visible = try client.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message WHERE source = 'archive'") ?? -1 }
                let stored = try client.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message_row WHERE is_archived = 1") ?? -1 }
                let copy = try client.read { try Row.fetchOne($0, sql: "SELECT source, text FROM message WHERE id = '0x5'") }
                seen.withLock {
                    $0.writes += 1
                    $0.archivedRowsVisible.append(visible)
                    $0.rowsStored.append(stored)
                    $0.replacedCopy.append(copy.map { "\($0["source"] as String): \($0["text"] as String)" } ?? "none")
                }
            } catch {
                seen.withLock { $0.failures.append("\(error)") }
            }
        })
        path.withLock { $0 = db.path }
        try await db.insertLocalMessages([message("0x5", seconds: 1005, text: "live 5", source: .local)])
        let counts = try await db.hydrate(archive: archive, mode: .replace) { writer in
            for n in 0..<10 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
            return summary(entries: 10)
        }
        let result = seen.withLock { $0 }
        #expect(result.failures.isEmpty)
        #expect(result.writes == 4)  // after each of the 4 chunks of 3, 3, 3 and 1 rows
        #expect(result.archivedRowsVisible == [0, 0, 0, 0])
        #expect(result.rowsStored == [3, 6, 9, 10])
        // The local copy the archive replaces (in the second chunk) is shown as a local copy until the end.
        #expect(result.replacedCopy == ["local: live 5", "local: archived 5", "local: archived 5", "local: archived 5"])
        #expect(counts == HydrationCounts(stored: 9, replaced: 1, unchanged: 0, removed: 0))
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message WHERE source = 'archive'") } == 10)
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message WHERE source = 'local'") } == 4)
        #expect(try pendingReferences(db) == 0)
        #expect(try db.message(id: "0x3")?.archiveID == archive.id)
    }

    /// The rules of one transaction hold across chunks: a local copy is replaced, a message held
    /// twice counts once and the later copy wins (the first in merge mode), another archive's
    /// row is left as it is, and importing again with `force` changes nothing and counts it so.
    @Test func theImportRulesHoldAcrossChunkBoundaries() async throws {
        let db = try temporaryDatabase(pacing: Self.pacing(rows: 2))
        try await db.insertLocalMessages([message("0x01", seconds: 1100, text: "live", source: .local),
                                    message("0x09", seconds: 1900, text: "live, never archived", source: .local)])
        let other = ArchiveRecord(id: "0xother", communityID: community, cid: "zO")
        _ = try await db.hydrate(archive: other, mode: .replace) { writer in
            try writer.write(message("0x05", seconds: 2500, text: "the other archive's"))
            return ArchiveContentSummary(from: 2000, to: 3000, contentTopics: [topic], entryCount: 1, rejections: [:])
        }
        func importArchive(force: Bool) async throws -> HydrationCounts {
            try await db.hydrate(archive: archive, mode: .replace, force: force) { writer in
                try writer.write(message("0x01", seconds: 1100, text: "first copy"))
                try writer.write(message("0x02", seconds: 1200, text: "new"))
                try writer.write(message("0x05", seconds: 2500, text: "not this archive's to change"))
                try writer.write(message("0x03", seconds: 1300, text: "new too"))
                try writer.write(message("0x01", seconds: 1100, text: "second copy"))
                return summary(entries: 5)
            }
        }
        #expect(try await importArchive(force: false) == HydrationCounts(stored: 2, replaced: 1, unchanged: 2, removed: 1))
        #expect(try db.message(id: "0x01")?.text == "second copy")
        #expect(try db.message(id: "0x05")?.text == "the other archive's")
        #expect(try db.message(id: "0x05")?.archiveID == other.id)
        #expect(try db.message(id: "0x09") == nil)
        let before = try db.messages(communityID: community)
        #expect(try await importArchive(force: true) == HydrationCounts(stored: 0, replaced: 0, unchanged: 5, removed: 0))
        #expect(try db.messages(communityID: community) == before)

        let merged = try await db.hydrate(archive: ArchiveRecord(id: "0xmerged", communityID: community, cid: "zM"), mode: .merge) { writer in
            try writer.write(message("0x07", seconds: 1300, text: "first"))
            try writer.write(message("0x01", seconds: 1100, text: "not taken"))
            try writer.write(message("0x07", seconds: 1300, text: "second"))
            return summary(entries: 3)
        }
        #expect(merged == HydrationCounts(stored: 1, replaced: 0, unchanged: 2, removed: 0))
        #expect(try db.message(id: "0x07")?.text == "first")
        #expect(try db.message(id: "0x01")?.text == "second copy")
        #expect(try pendingReferences(db) == 0)
    }

    /// An import stopped between chunks leaves nothing a reader sees; what it wrote is hidden,
    /// and removed (by itself, or by the next import); the next import stores the archive whole.
    @Test func anImportStoppedBetweenChunksLeavesNothingVisible() async throws {
        let stop = Mutex<Task<HydrationCounts, any Error>?>(nil)
        let pauses = Mutex(0)
        let db = try temporaryDatabase(pacing: Self.pacing(rows: 2) { _ in
            // In the second pause: the stop arrives while the lock is free.
            guard pauses.withLock({ $0 += 1; return $0 }) == 2 else { return }
            stop.withLock { $0?.cancel() }
        })
        let write: @Sendable (ArchiveHydrationWriter) throws -> ArchiveContentSummary = { [self] writer in
            for n in 0..<7 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
            return summary(entries: 7)
        }
        try await db.insertLocalMessages([message("0x1", seconds: 1001, text: "live 1", source: .local)])
        // The import starts only once the task is stored for the pause to cancel. (It waited on a
        // semaphore in the pause before: with both of the test runner's threads busy, the signal
        // could not run, and the pause held a thread for its 60 s timeout, which starved the
        // time-limited tests running beside it.)
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let task = Task { [archive] in
            for await _ in gate {}
            return try await db.hydrate(archive: archive, mode: .replace, body: write)
        }
        stop.withLock { $0 = task }
        open.finish()
        await #expect(throws: CancellationError.self) { try await task.value }
        // Only the local copy is seen, still a local copy (the first chunk had replaced it).
        #expect(try db.read { try String.fetchAll($0, sql: "SELECT id || ' ' || source FROM message") } == ["0x1 local"])
        #expect(try db.isImported(archiveID: archive.id) == false)

        let counts = try await db.hydrate(archive: archive, mode: .replace, body: write)
        #expect(counts == HydrationCounts(stored: 6, replaced: 1, unchanged: 0, removed: 0))
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message_row") } == 7)
        #expect(try pendingReferences(db) == 0)
    }

    /// Regression (review of this change): a chat client's `INSERT OR REPLACE` of a message an
    /// import is writing turned the archive's hidden row into a local copy, which publishing
    /// then deleted as a local copy the archive does not hold: the message was lost. Now the
    /// client's copy is skipped while the archive is pending, and the archive's row stays.
    @Test func aClientsInsertOrReplaceDuringAnImportLosesNothing() async throws {
        let path = Mutex<String?>(nil)
        let replaced = Mutex(false)
        let db = try temporaryDatabase(pacing: Self.pacing(rows: 2) { _ in
            guard let path = path.withLock({ $0 }), !replaced.withLock({ $0 }) else { return }
            replaced.withLock { $0 = true }
            do {
                try DatabaseQueue(path: path).write { db in
                    try db.execute(sql: """
                        INSERT OR REPLACE INTO message (id, community_id, chat_id, content_topic, author, type, clock, timestamp, payload, text, source)
                        VALUES ('0x0', '0x02aa', 'chat', '/waku/1/0xaaaaaaaa/rfc26', '0x02bb', 1, 1, 1000000, x'00', 'live 0', 'local')
                        """)
                }
            } catch {
                Issue.record("the client's write failed: \(error)")
            }
        })
        path.withLock { $0 = db.path }
        let counts = try await db.hydrate(archive: archive, mode: .replace) { writer in
            for n in 0..<5 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
            return summary(entries: 5)
        }
        #expect(replaced.withLock { $0 })
        #expect(counts == HydrationCounts(stored: 5, replaced: 0, unchanged: 0, removed: 0))
        #expect(try db.message(id: "0x0")?.text == "archived 0")
        #expect(try db.message(id: "0x0")?.archiveID == archive.id)
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message") } == 5)
    }

    /// Regression (review of this change): publishing did not check that the import's pending
    /// reference was still its own. If another process's sweep took the rows back (it thought
    /// the import had ended), the archive was recorded as imported with none of its rows.
    @Test func anImportWhoseRowsWereTakenBackIsNotRecorded() async throws {
        let path = Mutex<String?>(nil)
        let pauses = Mutex(0)
        let db = try temporaryDatabase(pacing: Self.pacing(rows: 2) { _ in
            // After the last of the two chunks, before publishing.
            guard let path = path.withLock({ $0 }), pauses.withLock({ $0 += 1; return $0 }) == 2 else { return }
            do {
                // What a sweep in another process does to a reference it thinks abandoned.
                try DatabaseQueue(path: path).write { db in
                    try db.execute(sql: """
                        DELETE FROM message_row WHERE archive_ref IN (SELECT ref FROM archive_ref WHERE pending_owner IS NOT NULL);
                        DELETE FROM archive_ref WHERE pending_owner IS NOT NULL;
                        """)
                }
            } catch {
                Issue.record("the sweep failed: \(error)")
            }
        })
        path.withLock { $0 = db.path }
        await #expect(throws: HistoryStoreError.self) {
            try await db.hydrate(archive: archive, mode: .replace) { writer in
                for n in 0..<3 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
                return summary(entries: 3)
            }
        }
        #expect(try db.isImported(archiveID: archive.id) == false)
        path.withLock { $0 = nil }
        #expect(try await db.hydrate(archive: archive, mode: .replace) { writer in
            for n in 0..<3 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
            return summary(entries: 3)
        } == HydrationCounts(stored: 3, replaced: 0, unchanged: 0, removed: 0))
    }

    /// Regression (review of this change): two imports of one database applied at once, and
    /// one took over the other's hidden row of a message both archives hold; when it was then
    /// stopped, taking its rows back removed the message from the other archive too. Now one
    /// import applies at a time, and a stopped one takes back only its own rows.
    @Test func aStoppedImportNeverTakesAnotherImportsRows() async throws {
        final class Scene: @unchecked Sendable {
            let lock = NSLock()
            var firstThread: Thread?
            var second: Task<HydrationCounts, any Error>?
            var firstPublishedBeforeSecondWrote: [Bool] = []
            let secondStarted = DispatchSemaphore(value: 0)
            let secondWrote = DispatchSemaphore(value: 0)
        }
        let scene = Scene()
        let db = try temporaryDatabase(pacing: Self.pacing(rows: 2) { _ in })
        let paced = try HistoryDatabase(path: db.path, applyPacing: Self.pacing(rows: 2) { [archive] _ in
            let isFirst = scene.lock.withLock {
                if scene.firstThread == nil { scene.firstThread = Thread.current }
                return scene.firstThread === Thread.current
            }
            if isFirst {
                // The first import's first pause: the second import may write its first chunk
                // meanwhile (it did before; now it waits until this one has published).
                guard scene.lock.withLock({ scene.second == nil }) else { return }
                scene.secondStarted.signal()
                _ = scene.secondWrote.wait(timeout: .now() + 2)
            } else {
                // The second import, after its first chunk: stopped.
                let published = (try? db.isImported(archiveID: archive.id)) ?? false
                scene.lock.withLock {
                    scene.firstPublishedBeforeSecondWrote.append(published)
                    scene.second?.cancel()
                }
                scene.secondWrote.signal()
            }
        })
        let shared = message("0xshared", seconds: 1500, text: "in both archives")
        let first = Task { [archive] in
            try await paced.hydrate(archive: archive, mode: .replace) { writer in
                try writer.write(shared)
                for n in 0..<3 { try writer.write(self.message("0xa\(n)", seconds: 1000 + Int64(n), text: "first")) }
                return self.summary(entries: 4)
            }
        }
        // Waited for on a thread of its own: not the test runner's, nor Dispatch's few (a blocked
        // one starves the other tests).
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                scene.secondStarted.wait()
                done.resume()
            }.start()
        }
        let second = scene.lock.withLock {
            let task = Task {
                try await paced.hydrate(archive: ArchiveRecord(id: "0xsecond", communityID: community, cid: "z2"), mode: .replace) { writer in
                    try writer.write(shared)
                    for n in 0..<3 { try writer.write(self.message("0xb\(n)", seconds: 1100 + Int64(n), text: "second")) }
                    return self.summary(entries: 4)
                }
            }
            scene.second = task
            return task
        }
        await #expect(throws: CancellationError.self) { try await second.value }
        #expect(try await first.value == HydrationCounts(stored: 4, replaced: 0, unchanged: 0, removed: 0))
        #expect(scene.lock.withLock { scene.firstPublishedBeforeSecondWrote.first } == true)
        #expect(try db.message(id: "0xshared")?.archiveID == archive.id)
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message") } == 4)
        #expect(try pendingReferences(db) == 0)
    }

    /// Issue 29: the status's message count (now read from the rows' index, not through the
    /// view) is what a reader of the view sees while an import's rows are hidden: its new
    /// messages are left out, the local copy it replaced still counts (as the local copy).
    @Test func theStatusCountsWhatAReaderSeesWhileAnImportIsHidden() async throws {
        let db = try temporaryDatabase(pacing: Self.pacing(rows: 2))
        try await db.insertLocalMessages([message("0xlocal", seconds: 1500, text: "live", source: .local),
                                          message("0xcopy", seconds: 1600, text: "live", source: .local)])
        try await DatabaseQueue(path: db.path).write { db in
            try db.execute(sql: "INSERT INTO archive_ref (value, pending_owner) VALUES ('pending: x', '/somewhere/import.sqlite')")
            let ref = db.lastInsertedRowID
            try db.execute(sql: "UPDATE message_row SET is_archived = 1, archive_ref = ?, replaced_local = 1 WHERE id = '0xcopy'", arguments: [ref])
            try Self.insertHiddenRows(["0xh1", "0xh2", "0xh3"], under: ref, in: db)
        }
        let visible = try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message WHERE community_id = ?", arguments: [community]) }
        #expect(visible == 2)
        #expect(try await db.communityStatuses(communityIDs: [community])[community]?.messageCount == visible)
        #expect(try await db.communityStatuses().first { $0.communityID == community }?.messageCount == visible)
        #expect(try await db.communityStatuses(communityIDs: ["0x03unknown"])["0x03unknown"]?.messageCount == 0)
    }

    /// Hidden rows whose import has ended (its staging file is gone, or unlocked) are removed by
    /// the next import; those of an import still running (its file locked) are left alone.
    @Test func hiddenRowsAreRemovedOnlyWhenTheirImportHasEnded() async throws {
        let db = try temporaryDatabase(pacing: Self.pacing(rows: 2))
        let running = db.path + ".running-import"
        #expect(FileManager.default.createFile(atPath: running, contents: Data("x".utf8)))
        let held = open(running, O_RDWR)
        defer { close(held) }
        #expect(flock(held, LOCK_EX | LOCK_NB) == 0)
        try await db.insertLocalMessages([message("0xlocal", seconds: 1500, text: "live", source: .local),
                                    message("0xcopy", seconds: 1600, text: "live", source: .local)])
        // What a killed import and a running one leave: hidden rows under a pending reference.
        try await DatabaseQueue(path: db.path).write { db in
            for (owner, ids) in [("/nonexistent/killed-import.sqlite", ["0xk1", "0xk2", "0xk3"]), (running, ["0xr1"])] {
                try db.execute(sql: "INSERT INTO archive_ref (value, pending_owner) VALUES (?, ?)", arguments: ["pending: " + owner, owner])
                let ref = db.lastInsertedRowID
                // The killed import had replaced a local copy too.
                if owner.hasPrefix("/nonexistent") {
                    try db.execute(sql: "UPDATE message_row SET is_archived = 1, archive_ref = ?, replaced_local = 1 WHERE id = '0xcopy'",
                                   arguments: [ref])
                }
                try Self.insertHiddenRows(ids, under: ref, in: db)
            }
        }
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message") } == 2)

        _ = try await db.hydrate(archive: archive, mode: .merge) { writer in
            try writer.write(message("0xk2", seconds: 1200, text: "archived"))
            return summary(entries: 1)
        }
        let rows = try db.read { try String.fetchAll($0, sql: "SELECT id FROM message_row ORDER BY id") }
        #expect(rows == ["0xcopy", "0xk2", "0xlocal", "0xr1"])
        #expect(try db.message(id: "0xk2")?.text == "archived")
        #expect(try pendingReferences(db) == 1)
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message") } == 3)
        let copy = try db.read { try Row.fetchOne($0, sql: "SELECT is_archived, archive_ref, replaced_local FROM message_row WHERE id = '0xcopy'") }
        #expect(copy == ["is_archived": 0, "archive_ref": nil, "replaced_local": nil])
    }

    /// A killed import's hidden rows are taken back `removalRows` at a time, with the lock free
    /// after each transaction as after the apply's, not at the apply's chunk size (500 rows by
    /// default, four times the transactions of the 2,000 removals take).
    @Test func hiddenRowsAreTakenBackInTransactionsOfTheirOwnSize() async throws {
        let hiddenAtEachPause = Mutex<[Int]>([])
        let path = Mutex<String?>(nil)
        let db = try temporaryDatabase(pacing: ApplyPacing(
            chunkRows: 3, pauseAfterHoldsOver: .zero, removalRows: 2, sleep: { _ in
                guard let path = path.withLock({ $0 }) else { return }
                let hidden = (try? DatabaseQueue(path: path).read {
                    try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message_row WHERE text = 'hidden'")
                }) ?? -1
                hiddenAtEachPause.withLock { $0.append(hidden) }
            }))
        path.withLock { $0 = db.path }
        try await db.insertLocalMessages([message("0xlocal", seconds: 1500, text: "live", source: .local)])
        try await DatabaseQueue(path: db.path).write { db in
            let owner = "/nonexistent/killed-import.sqlite"
            try db.execute(sql: "INSERT INTO archive_ref (value, pending_owner) VALUES (?, ?)", arguments: ["pending: " + owner, owner])
            let ref = db.lastInsertedRowID
            try Self.insertHiddenRows((0..<5).map { "0xk\($0)" }, under: ref, in: db)
        }
        _ = try await db.hydrate(archive: archive, mode: .merge) { writer in
            try writer.write(message("0xa", seconds: 1200, text: "archived"))
            return summary(entries: 1)
        }
        // 5 hidden rows, 2 a transaction; then the import's own transactions.
        #expect(Array(hiddenAtEachPause.withLock { $0 }.prefix(3)) == [3, 1, 0])
        #expect(try pendingReferences(db) == 0)
        #expect(try db.read { try String.fetchAll($0, sql: "SELECT id FROM message ORDER BY id") } == ["0xa", "0xlocal"])
    }

    /// The reading thread hands rows over in memory, at most two chunks ahead (issue 28). When
    /// the apply fails, a reader waiting for room must be let go, not left waiting for a thread
    /// that has ended: the import ends with the apply's error, and nothing of it is stored.
    @Test func aFailedApplyReleasesTheReaderAndSaysWhy() async throws {
        let db = try temporaryDatabase(pacing: Self.pacing(rows: 2))
        // SQLite refuses the first row, as a full disk or a constraint would.
        try await DatabaseQueue(path: db.path).write { db in
            try db.execute(sql: """
                CREATE TRIGGER refuse BEFORE INSERT ON message_row WHEN NEW.id = '0x0'
                BEGIN SELECT RAISE(ABORT, 'refused'); END
                """)
        }
        let readerStopped = Mutex(false)
        let write: @Sendable (ArchiveHydrationWriter) throws -> ArchiveContentSummary = { [self] writer in
            do {
                // Far more chunks than the handoff holds: the reader waits for room.
                for n in 0..<200 { try writer.write(message("0x\(n)", seconds: 1000 + Int64(n), text: "archived \(n)")) }
            } catch is CancellationError {
                readerStopped.withLock { $0 = true }
                throw CancellationError()
            }
            return summary(entries: 200)
        }
        let archive = archive
        let error = await #expect(throws: DatabaseError.self) {
            try await db.hydrate(archive: archive, mode: .replace, body: write)
        }
        #expect(error?.resultCode == .SQLITE_CONSTRAINT)
        #expect(readerStopped.withLock { $0 })
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message_row") } == 0)
        #expect(try pendingReferences(db) == 0)
        #expect(try db.isImported(archiveID: archive.id) == false)
    }
}
