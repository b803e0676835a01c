import ArchiveImport
import CodexClient
import ControlNode
import DemoNetwork
import Foundation
import HistoryStore
import StatusWire
import Testing
@testable import SyncEngine

/// What `CommunitySyncDriver.stop()` promises a user pressing Ctrl-C or a service manager
/// sending SIGTERM: it returns promptly even when a peer is slow, and nothing starts after it.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DriverShutdownTests {
    @Test(.timeLimit(.minutes(2)))
    func stopDuringASlowIndexFetchReturnsPromptlyAndStartsNothingAfterwards() async throws {
        let network = try await SyncIntegrationTests.network()
        defer { Task { await network.stop() } }
        let publisher = network.publisher
        let communityID = publisher.community.communityID.string
        let database = try SyncIntegrationTests.database(network)
        let driver = RunningDriver(CommunitySyncDriver(
            configuration: .init(communityID: publisher.community.communityID, quietWindow: .zero),
            database: database, codex: network.codex, archivesDirectory: network.scratch.appendingPathComponent("archives")))

        // The node now answers after 20 s: the index fetch is in flight when stop() is called.
        await network.codexNode.delayResponses(by: .seconds(20))
        let requestsBefore = await network.codexNode.requestCount()
        driver.receive(CommunitySyncMachineTests.announcement(
            clock: 1, cid: try CID(publisher.indexCID), signer: publisher.community.communityKey))
        try await waitUntil("the index fetch to reach the node") { await network.codexNode.requestCount() > requestsBefore }

        let answeredBefore = await network.codexNode.answeredCount()
        await driver.stop()
        // stop() returned before the slow node answered: it cancelled the fetch instead of waiting.
        #expect(await network.codexNode.answeredCount() == answeredBefore)

        // Nothing of the driver outlives stop(): its run has returned, and every child task with it
        // (structured: no task was left to ask the node later).
        await network.codexNode.delayResponses(by: .zero)
        let requestsAtStop = await network.codexNode.requestCount()
        #expect(await network.codexNode.requestCount() == requestsAtStop)
        #expect(try database.importedArchiveIDs(communityID: communityID).isEmpty)

        // The accepted announcement was persisted, so the next start picks the work up again.
        let state = try database.indexState(communityID: communityID)
        #expect(state?.indexCID == publisher.indexCID)
        #expect(state?.processedIndexCID == nil)
        // A fetch cancelled by the shutdown is not a failure of the node.
        #expect(try await database.communityStatuses().first?.lastError == nil)
    }
}
