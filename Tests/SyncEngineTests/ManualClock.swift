import Synchronization

/// A clock that moves only when a test says so: `sleep` waits until `advance(by:)` passes its
/// deadline (or the sleeping task is cancelled). Lets driver tests check timers without sleeping.
final class ManualClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Int: Sleeper] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .zero }

    /// Tasks sleeping on this clock now.
    var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let result = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time on and wakes every sleeper whose deadline has come.
    func advance(by duration: Duration) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let due = state.sleepers.filter { $0.value.deadline <= state.now }
            for id in due.keys { state.sleepers[id] = nil }
            return Array(due.values)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Waits (on real time, a few milliseconds at a time, at most 2 minutes) until `count` tasks
    /// sleep on this clock.
    func waitForSleepers(_ count: Int = 1) async throws {
        try await waitUntil("\(count) task(s) to sleep on the manual clock") { sleeperCount >= count }
    }

    /// Waits (on real time, a few milliseconds at a time, at most 2 minutes) until `count` tasks sleep
    /// on this clock until `offset` from its start: a test then knows which sleep its `advance` ends.
    func waitForSleepers(endingAt offset: Duration, count: Int = 1) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while state.withLock({ $0.sleepers.values.filter { $0.deadline.offset == offset }.count }) < count {
            guard ContinuousClock.now < deadline else { throw ManualClockTimeout(offset: offset) }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

struct ManualClockTimeout: Error, CustomStringConvertible {
    let offset: Duration
    var description: String { "waited 2 minutes for a task to sleep until \(offset)" }
}
