import CodexClient
import Foundation
import StatusWire
import Synchronization
import Testing
@testable import SyncEngine

/// `nextOutcome()` is how one-shot `sync` learns that a plan ended.
@Suite(.serialized) struct DriverOutcomeTests {
    @Test func anOutcomeReachedBeforeAnyoneAskedIsNotLost() async throws {
        let network = try await SyncIntegrationTests.network()
        defer { Task { await network.stop() } }
        let publisher = network.publisher
        let events = EventRecorder()
        let driver = try CommunitySyncDriver(
            configuration: .init(communityID: publisher.community.communityID, quietWindow: .zero),
            database: try SyncIntegrationTests.database(network), codex: network.codex,
            archivesDirectory: network.scratch.appendingPathComponent("archives"), onEvent: events.record)
        try await driver.start()
        await driver.receive(CommunitySyncMachineTests.announcement(
            clock: 1, cid: try CID(publisher.indexCID), signer: publisher.community.communityKey))
        // The whole plan ends before anyone asks for its outcome.
        while !events.all.contains(where: { if case .finished = $0 { true } else { false } }) {
            try await Task.sleep(for: .milliseconds(20))
        }

        // A waiter that is never resumed cannot be cancelled: give it 10 s, then fail (not hang).
        let answer = OutcomeBox()
        Task { answer.set(await driver.nextOutcome()) }
        let deadline = ContinuousClock.now + .seconds(10)
        while answer.value == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let outcome = answer.value
        await driver.stop()
        // The fixture's encrypted archive fails verification: listed as unimportable.
        guard case .completed(_, 9, let unimportable)? = outcome else {
            Issue.record("nextOutcome() did not return the plan's outcome: \(String(describing: outcome))")
            return
        }
        #expect(unimportable.values.map(\.kind) == [.rejected] && unimportable.values.first?.reason.contains("encrypted") == true)
    }
}

/// An outcome set from another task.
final class OutcomeBox: Sendable {
    private let outcome = Mutex<SyncOutcome?>(nil)
    func set(_ value: SyncOutcome) { outcome.withLock { $0 = value } }
    var value: SyncOutcome? { outcome.withLock { $0 } }
}
