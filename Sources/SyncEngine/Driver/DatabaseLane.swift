import Dispatch

/// Runs one driver's database work in order on a serial dispatch queue, off Swift's
/// cooperative thread pool.
///
/// SQLite has one writer at a time and an import holds it for the whole archive (seconds for
/// a large one). A write made directly from the driver actor or a task would block a
/// cooperative thread (there are as many as cores) until then, stalling the actor, timers,
/// relay polling and every other community in the process. On the lane, such work waits on
/// a dispatch thread instead; the caller either moves on (`submit`) or suspends (`run`).
/// Work runs in submission order, so a state write submitted before an outcome is on disk
/// when the outcome is delivered.
///
/// ```swift
/// lane.submit { try? database.saveIndexState(state) }
/// let result = try await lane.run { try importer.importArchive(entry, path: path) }
/// ```
final class DatabaseLane: Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label, qos: .utility)
    }

    /// Queues `work` and returns at once.
    func submit(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    /// Queues `work` and suspends until it has run. Not cancellable: database work, once
    /// started, commits or rolls back.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Suspends until everything queued so far has run.
    func drain() async {
        await withCheckedContinuation { continuation in queue.async { continuation.resume() } }
    }
}
