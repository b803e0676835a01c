import Synchronization

/// Decides which byte counts of a download are worth an event: the first at or past each
/// twentieth of the total, and the end. The event stream stays small (at most 21 events an
/// archive, whatever its size) and needs no clock.
///
/// ```swift
/// var steps = ProgressSteps(total: 1_000)
/// steps.advance(to: 10)    // false
/// steps.advance(to: 60)    // true (past 5 %)
/// ```
public struct ProgressSteps: Sendable, Equatable {
    public let total: Int64
    public let stepCount: Int64
    private var nextStep: Int64 = 1

    public init(total: Int64, steps: Int64 = 20) {
        self.total = max(total, 1)
        self.stepCount = max(steps, 1)
    }

    /// Whether `bytes` deserves an event.
    public mutating func advance(to bytes: Int64) -> Bool {
        guard nextStep <= stepCount, bytes * stepCount >= nextStep * total else { return false }
        // Skip every step already passed (one large chunk may pass several).
        nextStep = min(bytes * stepCount / total, stepCount) + 1
        return true
    }
}

/// `ProgressSteps` shared with the HTTP delegate's queue.
final class SharedProgressSteps: Sendable {
    private let steps: Mutex<ProgressSteps>
    init(total: Int64) { steps = Mutex(ProgressSteps(total: total)) }
    func advance(to bytes: Int64) -> Bool { steps.withLock { $0.advance(to: bytes) } }
}
