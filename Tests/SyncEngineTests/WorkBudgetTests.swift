import Synchronization
import Testing
@testable import SyncEngine

/// The agent-wide budget (issue 27): however many communities run, no more than its permits
/// work at once; a waiter cancelled leaves at once and takes no permit.
@Suite(.timeLimit(.minutes(5))) struct WorkBudgetTests {
    final class Running: Sendable {
        let state = Mutex((now: 0, most: 0))
        func enter() { state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
        func leave() { state.withLock { $0.now -= 1 } }
        var most: Int { state.withLock { $0.most } }
    }

    @Test func noMoreThanThePermitsRunAtOnce() async throws {
        let permits = Permits(2)
        let running = Running()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await permits.run {
                        running.enter()
                        await Task.yield()
                        try await Task.sleep(for: .milliseconds(1))
                        running.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(running.most == 2)
        #expect(permits.available == 2)
    }

    @Test func aCancelledWaiterLeavesWithoutAPermit() async throws {
        let permits = Permits(1)
        let (held, hold) = AsyncStream.makeStream(of: Void.self)
        let (entered, enter) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await permits.run {
                enter.yield()
                for await _ in held {}
            }
        }
        for await _ in entered { break }
        let waiter = Task { try await permits.run { "ran" } }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        hold.finish()
        try await holder.value
        #expect(permits.available == 1)
        #expect(try await permits.run { "after" } == "after")
    }
}
