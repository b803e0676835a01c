import Foundation
import GRDB
import Logging
import Testing
@testable import HistoryStore

/// The checkpointer copies what an import committed into the database file from a connection
/// of its own (issue 28). What shows it: SQLite grows the database file only when a checkpoint
/// copies pages into it, so a file shorter than the database's pages has commits still in the WAL.
@Suite(.timeLimit(.minutes(5))) struct WALCheckpointerTests {
    func temporaryDatabase(pacing: ApplyPacing = .default) throws -> HistoryDatabase {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("checkpointer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try HistoryDatabase(path: directory.appendingPathComponent("history.sqlite").path, applyPacing: pacing)
    }

    /// Bytes in the database file, and bytes its pages take with the WAL's commits.
    func sizes(_ database: HistoryDatabase) throws -> (file: Int, pages: Int) {
        let file = try FileManager.default.attributesOfItem(atPath: database.path)[.size] as! Int
        let pages = try database.read { db in
            try Int.fetchOne(db, sql: "PRAGMA page_count")! * Int.fetchOne(db, sql: "PRAGMA page_size")!
        }
        return (file, pages)
    }

    func writeRows(_ database: HistoryDatabase, count: Int) throws {
        try database.pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            try db.execute(sql: "CREATE TABLE filler (value BLOB)")
            for _ in 0..<count {
                try db.inTransaction {
                    try db.execute(sql: "INSERT INTO filler (value) VALUES (randomblob(4000))")
                    return .commit
                }
            }
        }
    }

    @Test func aRequestedCheckpointCopiesWhatWasCommitted() throws {
        let database = try temporaryDatabase()
        try writeRows(database, count: 200)
        let before = try sizes(database)
        #expect(before.file < before.pages, "the rows are still in the WAL")

        let checkpointer = try WALCheckpointer(path: database.path, catchUpBytes: 64 << 20, logger: Logger(label: "test"))
        try checkpointer.request(walFrames: 0)
        let spent = checkpointer.finish().spent

        let after = try sizes(database)
        #expect(after.file == after.pages)
        #expect(after.pages == before.pages)
        #expect(spent > .zero)
    }

    @Test func withoutARequestNothingIsCopied() throws {
        let database = try temporaryDatabase()
        try writeRows(database, count: 50)
        let checkpointer = try WALCheckpointer(path: database.path, catchUpBytes: 64 << 20, logger: Logger(label: "test"))
        #expect(checkpointer.finish().spent == .zero)
        let after = try sizes(database)
        #expect(after.file < after.pages)
    }

    /// A checkpoint that runs a chunk behind never lets SQLite start the WAL over: it grew by the
    /// whole archive (a review measured 609 MiB for 100,000 rows). Past its limit the apply
    /// waits for the checkpoints to catch up, so the WAL stays within the limit and a chunk.
    @Test func theWALStaysNearItsLimitWhileTheCheckpointsRunBehind() async throws {
        let limit = 256 << 10
        // No pause at all: the next chunk always begins while the last is being copied.
        let database = try temporaryDatabase(pacing: ApplyPacing(chunkRows: 50, pauseAfterHoldsOver: .zero, walBytesBeforeCatchUp: limit, sleep: { _ in }))
        let record = ArchiveRecord(id: "0xarchive", communityID: "0x02aa", cid: "zCID")
        // Made before the import, so that handing them over is never what the apply waits for.
        let messages = (0..<4_000).map { (n: Int) -> StoredMessage in
            let shuffled: Int = (n &* 2_654_435_761) % 1_000_003
            return StoredMessage(
                id: String(format: "0x%064x", shuffled), communityID: "0x02aa", chatID: "chat",
                contentTopic: "/waku/1/0xaaaaaaaa/rfc26", author: "0x02bb", type: 1, clock: UInt64(n), timestamp: 1_000_000 + Int64(n),
                payload: Data(repeating: UInt8(n % 251), count: 1_000), text: "message \(n)", source: .archive)
        }
        // The migrations' pages out of the WAL: it starts empty.
        try await database.pool.writeWithoutTransaction { _ = try $0.checkpoint(.truncate) }
        _ = try await database.hydrate(archive: record, mode: .replace) { writer in
            for message in messages { try writer.write(message) }
            return ArchiveContentSummary(from: 1000, to: 2000, contentTopics: ["/waku/1/0xaaaaaaaa/rfc26"], entryCount: 4_000, rejections: [:])
        }
        let stored = try database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM message_row") }
        #expect(stored == 4_000)
        let times = database.importStageTimes
        // The archive's rows alone are over 4 MiB: without the bound the WAL held most of them.
        #expect(times.largestWALBytes > 0)
        // The apply waited for the checkpoints to catch up: the bound, not luck, kept the WAL small.
        #expect(times.applyCheckpointed > .zero)
        #expect(times.largestWALBytes <= limit + 512 << 10, "the WAL grew to \(times.largestWALBytes) bytes")
        let wal = try FileManager.default.attributesOfItem(atPath: database.path + "-wal")[.size] as! Int
        #expect(wal <= limit + 512 << 10, "the WAL file is \(wal) bytes")
    }

    /// A chunked import ends with its pages in the database file, none left in the WAL for a
    /// chat client's next commit to copy, and counts the copying it did beside the apply.
    @Test func anImportLeavesNothingInTheWAL() async throws {
        let database = try temporaryDatabase(pacing: ApplyPacing(chunkRows: 50, pauseAfterHoldsOver: .zero, sleep: { _ in }))
        let record = ArchiveRecord(id: "0xarchive", communityID: "0x02aa", cid: "zCID")
        let counts = try await database.hydrate(archive: record, mode: .replace) { writer in
            for n in 0..<1_000 {
                try writer.write(StoredMessage(
                    id: String(format: "0x%064x", n * 7919), communityID: "0x02aa", chatID: "chat", contentTopic: "/waku/1/0xaaaaaaaa/rfc26",
                    author: "0x02bb", type: 1, clock: UInt64(n), timestamp: 1_000_000 + Int64(n), payload: Data(repeating: 7, count: 300),
                    text: "message \(n)", source: .archive))
            }
            return ArchiveContentSummary(from: 1000, to: 2000, contentTopics: ["/waku/1/0xaaaaaaaa/rfc26"], entryCount: 1_000, rejections: [:])
        }
        #expect(counts.stored == 1_000)
        let after = try sizes(database)
        #expect(after.file == after.pages)
        #expect(database.importStageTimes.checkpointedAside > .zero)
    }
}
