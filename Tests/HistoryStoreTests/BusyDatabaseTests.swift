import Foundation
import GRDB
import Testing
@testable import HistoryStore

/// A chat client holding a write lock: the import waits up to the busy timeout, fails with
/// a clear error, changes nothing, and succeeds once the lock is released.
@Suite(.timeLimit(.minutes(5))) struct BusyDatabaseTests {
    @Test func lockedDatabaseIsWaitedForReportedAndNeverCorrupted() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("busy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("history.sqlite").path
        let database = try HistoryDatabase(path: path, busyTimeout: 0.3)
        let archive = ArchiveRecord(id: "0xa", communityID: "0x02", cid: "z")
        let body: @Sendable (ArchiveHydrationWriter) throws -> ArchiveContentSummary = { writer in
            try writer.write(StoredMessage(id: "0x1", communityID: "0x02", chatID: nil, contentTopic: "/t", author: "0x02", type: 1,
                                           clock: 1, timestamp: 1000, payload: Data(), text: "hi", source: .archive))
            return ArchiveContentSummary(from: 0, to: 10, contentTopics: ["/t"], entryCount: 1, rejections: [:])
        }

        // Another process's connection (the chat client) takes the write lock and keeps it.
        var clientConfiguration = Configuration()
        clientConfiguration.allowsUnsafeTransactions = true  // the "client" keeps its transaction open across calls
        let client = try DatabaseQueue(path: path, configuration: clientConfiguration)
        try client.inDatabase { try $0.execute(sql: "BEGIN IMMEDIATE") }
        await #expect {
            _ = try await database.hydrate(archive: archive, mode: .replace, body: body)
        } throws: { error in
            DatabaseFailure(error) == .busy
        }
        try client.inDatabase { try $0.execute(sql: "ROLLBACK") }

        #expect(try database.messageCount() == 0)
        #expect(try !database.isImported(archiveID: "0xa"))
        _ = try await database.hydrate(archive: archive, mode: .replace, body: body)
        #expect(try database.messageCount() == 1)
        #expect(try database.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok")
    }
}
