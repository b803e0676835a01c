import ArchiveImport
import CodexClient
import Fixtures
import Foundation
import GRDB
import HistoryStore
import StatusWire
import Testing
@testable import SyncEngine

/// Faults injected under a running driver, as a user's machine or a peer produces them.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DriverFaultTests {
    /// A chat client holds the database's write lock through a whole plan: every write of the
    /// driver fails (reported, not dropped), the plan fails as a database failure and backs off;
    /// once the lock is gone, the retry imports everything.
    @Test func aDatabaseLockedThroughAPlanIsReportedAndRetried() async throws {
        let network = try await SyncIntegrationTests.network()
        defer { Task { await network.stop() } }
        let publisher = network.publisher
        let path = network.scratch.appendingPathComponent("busy.sqlite").path
        try FileManager.default.createDirectory(at: network.scratch, withIntermediateDirectories: true)
        let database = try HistoryDatabase(path: path, busyTimeout: 0.2)
        var clientConfiguration = Configuration()
        clientConfiguration.allowsUnsafeTransactions = true  // the "client" keeps its transaction open across calls
        let client = try DatabaseQueue(path: path, configuration: clientConfiguration)
        try client.inDatabase { try $0.execute(sql: "BEGIN IMMEDIATE") }

        let clock = ManualClock()
        let events = EventRecorder()
        let driver = RunningDriver(CommunitySyncDriver(
            configuration: .init(communityID: publisher.community.communityID, quietWindow: .zero, retryInitialDelay: .seconds(5)),
            database: database, codex: network.codex, archivesDirectory: network.scratch.appendingPathComponent("archives"),
            clock: clock, onEvent: events.record))
        #expect(await driver.nextOutcome() == .nothingToDo)
        driver.receive(CommunitySyncMachineTests.announcement(
            clock: 1, cid: try CID(publisher.indexCID), signer: publisher.community.communityKey))
        guard case .failed(let failure)? = await driver.nextOutcome() else { Issue.record("the plan did not fail"); return }
        #expect(failure.cause == .database)
        #expect(events.all.contains { if case .recordFailed = $0 { true } else { false } }, "a failed write is reported")

        try client.inDatabase { try $0.execute(sql: "ROLLBACK") }
        try await clock.waitForSleepers()
        clock.advance(by: .seconds(5))
        let retried = await driver.nextOutcome()
        guard case .completed(_, 9, _)? = retried else { Issue.record("the retry did not complete: \(String(describing: retried))"); return }
        await driver.stop()
        #expect(try database.importedArchiveIDs(communityID: publisher.community.communityID.string).count == 9)
        #expect(try database.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok")
    }

    /// Regression (issue 9, defect 5): a node that stops sending halfway through one archive kept
    /// `sync` running for the idle timeout, five times per plan. Now that download stops at the
    /// minimum transfer rate, the rest is imported, and the sync ends saying which failed.
    @Test func aStalledArchiveFailsAndTheRestIsImported() async throws {
        let network = try await SyncIntegrationTests.network()
        let victim = try FixtureDirectory(url: SyncIntegrationTests.fixtureURL).readIndex().1.entries[2]
        await network.codexNode.stallDownloads(of: victim.cid, after: 1000)
        try await network.publisher.announce(on: network.waku, clock: UInt64(Date().timeIntervalSince1970 * 1000))
        var codex = network.codex
        codex.minimumTransferRate = MinimumTransferRate(bytesPerSecond: 1024, window: .seconds(3))  // wide: the healthy archives must never fall under it
        let report = try await SyncIntegrationTests.sync(network, database: try SyncIntegrationTests.database(network), codex: codex, retries: 0)
        await network.stop()
        #expect(report.archives.imported == 8)
        #expect(Array(report.archives.failed.keys) == [victim.id.string])
        #expect(report.archives.failed[victim.id.string]?.contains("minimum") == true)
        guard case .failed(.archivesFailed, _) = report.outcome else { Issue.record("\(report.outcome)"); return }
    }
}
