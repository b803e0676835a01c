import ArchiveImport
import CodexClient
import ControlNode
import DemoNetwork
import Fixtures
import Foundation
import HistoryStore
import PeerHTTP
import StatusWire
import Testing
@testable import SyncEngine

/// The driver's timers on a manual clock: the quiet window and the retry backoff, checked by
/// the requests the Codex node sees, without sleeping.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DriverClockTests {
    @Test func theQuietWindowAndTheBackoffRunOnTheDriversClock() async throws {
        let network = try await SyncIntegrationTests.network()
        defer { Task { await network.stop() } }
        let publisher = network.publisher
        let clock = ManualClock()
        // The client finds the node's API once (before the node goes down here): what fails below
        // is the index fetch itself.
        let codex = CodexClient(baseURL: network.codexNode.baseURL, retry: .none)
        _ = try await codex.apiPrefix()
        let driver = RunningDriver(CommunitySyncDriver(
            configuration: .init(communityID: publisher.community.communityID, quietWindow: .seconds(20),
                                 retryInitialDelay: .seconds(5), retryMaxDelay: .seconds(600), retryJitter: 0),
            database: try SyncIntegrationTests.database(network), codex: codex,
            archivesDirectory: network.scratch.appendingPathComponent("archives"), clock: clock))
        #expect(await driver.nextOutcome() == .nothingToDo)
        func requests() async -> Int { await network.codexNode.requestCount() }

        // The node is down for the first two index fetches.
        await network.codexNode.failNextRequests(2, status: 503)
        let before = await requests()
        driver.receive(CommunitySyncMachineTests.announcement(
            clock: 1, cid: try CID(publisher.indexCID), signer: publisher.community.communityKey))
        try await clock.waitForSleepers()
        clock.advance(by: .seconds(19))
        #expect(await requests() == before, "nothing fetched before the quiet window ends")

        clock.advance(by: .seconds(1))
        guard case .failed(let first)? = await driver.nextOutcome() else { Issue.record("no failure"); return }
        #expect(first.cause == .peerUnreachable)
        #expect(await requests() == before + 1)

        // Backoff: 5 s, then 10 s. Nothing is asked before each ends.
        try await clock.waitForSleepers()
        clock.advance(by: .milliseconds(4_999))
        #expect(await requests() == before + 1)
        clock.advance(by: .milliseconds(1))
        guard case .failed? = await driver.nextOutcome() else { Issue.record("no second failure"); return }
        #expect(await requests() == before + 2)

        try await clock.waitForSleepers()
        clock.advance(by: .milliseconds(9_999))
        #expect(await requests() == before + 2)
        clock.advance(by: .milliseconds(1))
        guard case .completed(_, 9, let unimportable)? = await driver.nextOutcome() else { Issue.record("not completed"); return }
        #expect(unimportable.count == 1)
        await driver.stop()
    }

    /// Issue 12: status-go retried the import of archives whose key was missing every 100 ms,
    /// for months. Here an archive waiting for its key is tried once in a run: over two
    /// simulated days nothing is downloaded or imported again and no timer is armed; its file
    /// is kept for the key.
    @Test func anArchiveWaitingForItsKeyIsNotRetriedOverSimulatedDays() async throws {
        let network = try await SyncIntegrationTests.network()
        defer { Task { await network.stop() } }
        let publisher = network.publisher
        let clock = ManualClock()
        let events = EventRecorder()
        let database = try SyncIntegrationTests.database(network)
        let archives = network.scratch.appendingPathComponent("archives")
        let driver = RunningDriver(CommunitySyncDriver(
            configuration: .init(communityID: publisher.community.communityID, quietWindow: .seconds(20),
                                 retryInitialDelay: .seconds(5), retryMaxDelay: .seconds(600), retryJitter: 0),
            database: database, codex: CodexClient(baseURL: network.codexNode.baseURL, retry: .none),
            archivesDirectory: archives, clock: clock, onEvent: events.record))
        #expect(await driver.nextOutcome() == .nothingToDo)
        driver.receive(CommunitySyncMachineTests.announcement(
            clock: 1, cid: try CID(publisher.indexCID), signer: publisher.community.communityKey))
        try await clock.waitForSleepers()
        clock.advance(by: .seconds(20))
        guard case .completed(_, 9, let notImported)? = await driver.nextOutcome() else { Issue.record("not completed"); return }
        #expect(notImported.values.map(\.kind) == [.waitingForKey])

        let encrypted = try ArchiveID(SyncIntegrationTests.encryptedArchive)
        func attempts() -> (downloads: Int, imports: Int) {
            events.all.reduce(into: (0, 0)) { count, event in
                switch event {
                case .downloadStarted(let id, _) where id == encrypted: count.0 += 1
                case .importingArchive(let id) where id == encrypted: count.1 += 1
                default: break
                }
            }
        }
        #expect(attempts() == (1, 1))
        let requests = await network.codexNode.requestCount()
        for _ in 0..<(48 * 60) {
            clock.advance(by: .seconds(60))
            await Task.yield()
        }
        #expect(attempts() == (1, 1), "two days later: no new download, no new import")
        #expect(await network.codexNode.requestCount() == requests)
        #expect(clock.sleeperCount == 0, "no timer armed")
        #expect(!events.all.contains { if case .waiting(.retry, _) = $0 { return true } else { return false } })
        // Waiting, with its file and download record kept for the key.
        let waits = try await database.keyWaits(communityID: publisher.community.communityID.string).filter { $0.kind == .archive }
        #expect(waits.map(\.item) == [encrypted.string] && waits.first?.kind == .archive)
        #expect(try database.downloadedArchives(communityID: publisher.community.communityID.string).map(\.id.string) == [encrypted.string])
        await driver.stop()
    }

    /// Issue 12, the index: an encrypted community's index without its key is fetched once and
    /// waits; over two simulated days nothing is fetched again and no timer is armed.
    @Test func anIndexWaitingForItsKeyIsNotFetchedAgainOverSimulatedDays() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("index-wait-\(UUID().uuidString)")
        let fixture = scratch.appendingPathComponent("community")
        let summary = try EncryptedFixtureGenerator().write(to: fixture)
        let codexNode = try await DemoCodexNode.start(directory: scratch.appendingPathComponent("codex"))
        defer { Task { await codexNode.stop() } }
        let publisher = try CommunityPublisher(fixture: try FixtureDirectory(url: fixture))
        try await publisher.uploadBlobs(to: CodexClient(baseURL: codexNode.baseURL))
        let clock = ManualClock()
        let database = try HistoryDatabase(path: scratch.appendingPathComponent("history.sqlite").path)
        let driver = RunningDriver(CommunitySyncDriver(
            configuration: .init(communityID: publisher.community.communityID, quietWindow: .seconds(20),
                                 retryInitialDelay: .seconds(5), retryMaxDelay: .seconds(600), retryJitter: 0),
            database: database, codex: CodexClient(baseURL: codexNode.baseURL, retry: .none),
            archivesDirectory: scratch.appendingPathComponent("archives"), clock: clock))
        #expect(await driver.nextOutcome() == .nothingToDo)
        driver.receive(CommunitySyncMachineTests.announcement(
            clock: 1, cid: try CID(publisher.indexCID), signer: publisher.community.communityKey))
        try await clock.waitForSleepers()
        clock.advance(by: .seconds(20))
        guard case .failed(let failure)? = await driver.nextOutcome() else { Issue.record("the index did not wait"); return }
        #expect(failure.cause == .waitingForKey)
        let requests = await codexNode.requestCount()
        for _ in 0..<(48 * 60) {
            clock.advance(by: .seconds(60))
            await Task.yield()
        }
        #expect(await codexNode.requestCount() == requests, "two days later: the index was not fetched again")
        #expect(clock.sleeperCount == 0, "no timer armed")
        let waits = try await database.keyWaits(communityID: publisher.community.communityID.string)
        #expect(waits.map(\.kind) == [.index] && waits.first?.keyID == summary.keyIDs[1])
        await driver.stop()
    }
}
