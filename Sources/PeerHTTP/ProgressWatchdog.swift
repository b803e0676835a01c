import Synchronization

/// Bytes a transfer has moved so far: written by the code that receives them, read by a
/// `withProgressWatchdog` beside it.
public final class TransferCounter: Sendable {
    private let received = Atomic<Int64>(0)

    public init() {}

    public func set(_ bytes: Int64) { received.store(bytes, ordering: .relaxed) }
    public var value: Int64 { received.load(ordering: .relaxed) }
}

/// `withDeadline`'s time ran out.
struct DeadlinePassed: Error {}

/// Runs `work`, cancelling it and throwing `DeadlinePassed` if it takes longer than `limit`.
func withDeadline<T: Sendable>(_ limit: Duration, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
    try await racing(work) {
        try await Task.sleep(for: limit)
        throw DeadlinePassed()
    }
}

/// Runs `work` beside `watcher`, which only ends by throwing: `work`'s value, or the first
/// error of either. Structured: the loser is cancelled, and this returns only when both have ended.
private func racing<T: Sendable>(
    _ work: @escaping @Sendable () async throws -> T, watcher: @escaping @Sendable () async throws -> Never
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await work() }
        group.addTask { try await watcher() }
        defer { group.cancelAll() }
        // The watcher never returns a value: the first value is the work's.
        while let result = try await group.next() {
            if let value = result { return value }
        }
        throw CancellationError()
    }
}

/// A transfer moved fewer than the minimum bytes in one watchdog window.
public struct TransferStalled: Error, Sendable {
    public var received: Int64
    public var window: Duration
}

/// Runs `transfer` beside a watchdog that wakes once per `window` (no polling in between) and
/// throws `TransferStalled` when the transfer moved fewer than `minimumBytes` in that window.
/// Structured: the loser is cancelled, and the call returns only when both have ended.
///
/// ```swift
/// let counter = TransferCounter()
/// let bytes = try await withProgressWatchdog(every: .seconds(60), minimumBytes: 1, counter: counter) {
///     try await download { written in counter.set(written) }
/// }
/// ```
public func withProgressWatchdog<T: Sendable>(
    every window: Duration, minimumBytes: Int64, counter: TransferCounter, clock: any Clock<Duration> = ContinuousClock(),
    _ transfer: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await racing(transfer) {
        var before = counter.value
        while true {
            try await clock.sleep(for: window)
            let now = counter.value
            if now - before < minimumBytes { throw TransferStalled(received: now - before, window: window) }
            before = now
        }
    }
}
