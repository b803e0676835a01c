import CodexClient
import Foundation
import StatusWire
import Synchronization
import Testing
@testable import SyncEngine

/// `nextOutcome()` is how one-shot `sync` learns that a plan ended.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DriverOutcomeTests {
    @Test func anOutcomeReachedBeforeAnyoneAskedIsNotLost() async throws {
        let network = try await SyncIntegrationTests.network()
        defer { Task { await network.stop() } }
        let publisher = network.publisher
        let events = EventRecorder()
        let driver = RunningDriver(CommunitySyncDriver(
            configuration: .init(communityID: publisher.community.communityID, quietWindow: .zero),
            database: try SyncIntegrationTests.database(network), codex: network.codex,
            archivesDirectory: network.scratch.appendingPathComponent("archives"), onEvent: events.record))
        driver.receive(CommunitySyncMachineTests.announcement(
            clock: 1, cid: try CID(publisher.indexCID), signer: publisher.community.communityKey))
        // The whole plan ends before anyone asks for its outcome.
        try await waitUntil("the plan to finish") { events.all.contains { if case .finished = $0 { true } else { false } } }
        // (Before the announcement, the driver had nothing to do, and said so.)
        var outcome = await driver.nextOutcome()
        if outcome == .nothingToDo { outcome = await driver.nextOutcome() }
        await driver.stop()
        // The fixture's encrypted archive waits for its key: listed among those not imported.
        guard case .completed(_, 9, let unimportable)? = outcome else {
            Issue.record("the plan's outcome was lost: \(String(describing: outcome))")
            return
        }
        #expect(unimportable.values.map(\.kind) == [.waitingForKey] && unimportable.values.first?.reason.contains("waiting for key") == true)
    }
}
