import CodexClient
import ControlNode
import Foundation
import HistoryStore
import StatusCrypto
import StatusWire
import Testing
@testable import SyncEngine

/// A long import holds SQLite's only writer for seconds; the driver must stay responsive
/// meanwhile (the agent routes every community's announcements through its drivers).
@Suite(.serialized) struct DriverConcurrencyTests {
    @Test func anAnnouncementIsTakenWhileALargeImportRuns() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("driver-\(UUID().uuidString)")
        let archives = scratch.appendingPathComponent("archives")
        try FileManager.default.createDirectory(at: archives, withIntermediateDirectories: true)
        let database = try HistoryDatabase(path: scratch.appendingPathComponent("history.sqlite").path)

        // A downloaded-but-not-imported archive of 6,000 messages: the driver imports it on start.
        let benchmark = BenchmarkArchive()
        let entry = benchmark.entry
        let path = archives.appendingPathComponent(entry.cid.string).path
        try benchmark.write(count: 6_000, to: path, localCopiesIn: try HistoryDatabase(path: scratch.appendingPathComponent("unused.sqlite").path))
        let communityID = benchmark.community.communityID
        try database.recordDownloaded(DownloadedArchiveRecord(
            id: entry.id, communityID: communityID, cid: entry.cid.string, path: path, from: entry.from, to: entry.to,
            contentTopics: entry.contentTopics.map { Hex.encode($0.bytes, prefixed: true) }))

        let events = EventRecorder()
        let driver = try CommunitySyncDriver(
            configuration: .init(communityID: communityID), database: database,
            codex: CodexClient(baseURL: URL(string: "http://127.0.0.1:1")!), archivesDirectory: archives, onEvent: events.record)
        try await driver.start()
        while !events.all.contains(where: { if case .importingArchive = $0 { true } else { false } }) {
            try await Task.sleep(for: .milliseconds(10))
        }

        // The announcement is accepted and persisted while the import still runs.
        await driver.receive(ArchiveAnnouncement(
            clock: 42, indexCID: CID.contentAddress(of: [1]), signer: benchmark.community.communityKey.publicKey,
            messageType: 43, contentTopic: "/waku/1/0x00000000/rfc26"))
        // Import progress is reported from the import's own thread, every 1,000 entries: fewer
        // than 6 reports so far means the import was still reading when receive() returned.
        let progress: (SyncEvent) -> Bool = { if case .importProgress = $0 { true } else { false } }
        #expect(events.all.filter(progress).count < 6, "receive() waited for the import to finish")
        let imported: (SyncEvent) -> Bool = { if case .archiveImported = $0 { true } else { false } }

        while !events.all.contains(where: imported) { try await Task.sleep(for: .milliseconds(50)) }
        await driver.stop()
        #expect(events.all.filter(progress).count == 6)
        #expect(try database.importedArchiveIDs(communityID: communityID) == [entry.id])
        #expect(try database.indexState(communityID: communityID)?.indexClock == 42)
        try? FileManager.default.removeItem(at: scratch)
    }
}
