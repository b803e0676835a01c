import CodexClient
import Foundation
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
        let driver = RunningDriver(try CommunitySyncDriver(
            configuration: .init(communityID: publisher.community.communityID, quietWindow: .seconds(20),
                                 retryInitialDelay: .seconds(5), retryMaxDelay: .seconds(600)),
            database: try SyncIntegrationTests.database(network), codex: CodexClient(baseURL: network.codexNode.baseURL, retry: .none),
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
}
