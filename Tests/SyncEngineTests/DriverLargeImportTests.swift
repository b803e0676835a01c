import CodexClient
import ControlNode
import Foundation
import HistoryStore
import StatusCrypto
import StatusWire
import Testing
@testable import SyncEngine

/// A long import holds SQLite's only writer for seconds. Meanwhile the driver must stay
/// responsive (the agent routes every community's announcements through its drivers), and a
/// shutdown must not wait for it.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DriverLargeImportTests {
    /// A database with a downloaded-but-not-imported archive of 6,000 messages, which a
    /// driver imports as soon as it starts (reported every 1,000 entries: 6 progress events).
    struct Setup {
        let scratch: URL
        let database: HistoryDatabase
        let entry: ArchiveIndexEntry
        let community: DemoCommunity
        let events = EventRecorder()

        init() async throws {
            scratch = FileManager.default.temporaryDirectory.appendingPathComponent("driver-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: scratch.appendingPathComponent("archives"), withIntermediateDirectories: true)
            database = try HistoryDatabase(path: scratch.appendingPathComponent("history.sqlite").path)
            let benchmark = BenchmarkArchive()
            entry = benchmark.entry
            community = benchmark.community
            let path = scratch.appendingPathComponent("archives").appendingPathComponent(entry.cid.string).path
            try await benchmark.write(count: 6_000, to: path, localCopiesIn: try HistoryDatabase(path: scratch.appendingPathComponent("unused.sqlite").path))
            try await database.recordDownloaded(DownloadedArchiveRecord(entry, communityID: community.communityID.string, path: path))
        }

        func startDriver() throws -> RunningDriver {
            RunningDriver(CommunitySyncDriver(
                configuration: .init(communityID: community.communityID), database: database,
                codex: CodexClient(baseURL: URL(string: "http://127.0.0.1:1")!),
                archivesDirectory: scratch.appendingPathComponent("archives"), onEvent: events.record))
        }

        func count(_ matches: (SyncEvent) -> Bool) -> Int { events.all.filter(matches).count }

        /// Waits (a few milliseconds at a time, at most 2 minutes) for an event.
        func waitFor(_ matches: @escaping (SyncEvent) -> Bool) async throws {
            try await waitUntil("an event of the driver") { count(matches) > 0 }
        }
    }

    static func importing(_ event: SyncEvent) -> Bool { if case .importingArchive = event { true } else { false } }
    static func progress(_ event: SyncEvent) -> Bool { if case .importProgress = event { true } else { false } }
    static func imported(_ event: SyncEvent) -> Bool { if case .archiveImported = event { true } else { false } }

    @Test func anAnnouncementIsTakenWhileALargeImportRuns() async throws {
        let setup = try await Setup()
        let driver = try setup.startDriver()
        try await setup.waitFor(Self.importing)

        // The announcement is accepted while the import still runs: the loop is not blocked by it
        // (the same rule on a manual clock, without timing: DriverEffectsOrderTests).
        driver.receive(CommunitySyncMachineTests.announcement(
            clock: 42, cid: (try! CID.codex(of: [1])).manifestCID, signer: setup.community.communityKey))
        try await setup.waitFor { if case .announcementAccepted = $0 { true } else { false } }

        try await setup.waitFor(Self.imported)
        await driver.stop()
        #expect(setup.count(Self.progress) == 6)
        #expect(try setup.database.importedArchiveIDs(communityID: setup.community.communityID.string) == [setup.entry.id.string])
        #expect(try setup.database.indexState(communityID: setup.community.communityID.string)?.indexClock == 42)
        try? FileManager.default.removeItem(at: setup.scratch)
    }

    @Test func stopRollsBackARunningImportAndTheNextStartImportsIt() async throws {
        let setup = try await Setup()
        let communityID = setup.community.communityID.string
        let first = try setup.startDriver()
        try await setup.waitFor(Self.progress)

        await first.stop()
        // Stopping returned with the import unpublished (GRDB interrupted SQLite), and nothing of it remains.
        #expect(setup.count(Self.imported) == 0)
        #expect(try setup.database.importedArchiveIDs(communityID: communityID).isEmpty)
        #expect(try setup.database.messageCount(communityID: communityID) == 0)
        #expect(try setup.database.downloadedArchives(communityID: communityID).map(\.id) == [setup.entry.id])

        let second = try setup.startDriver()
        try await setup.waitFor(Self.imported)
        await second.stop()
        #expect(try setup.database.importedArchiveIDs(communityID: communityID) == [setup.entry.id.string])
        #expect(try setup.database.messageCount(communityID: communityID) == 6_000)
        try? FileManager.default.removeItem(at: setup.scratch)
    }
}
