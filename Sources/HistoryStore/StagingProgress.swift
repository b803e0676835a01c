import Foundation

/// What the two threads of one import share: how many staged rows are committed (the staging
/// thread writes them, the apply step follows a chunk behind), whether staging has ended and
/// with what, and whether the import must stop.
///
/// ```swift
/// // staging thread                        // apply thread
/// progress.committed(through: 4_000)       let rows = progress.waitForRows(through: 4_000)
/// progress.end(with: .success(summary))    let summary = try progress.stagingResult()
/// ```
final class StagingProgress: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var committed: Int64 = 0
    private var result: Result<ArchiveContentSummary, any Error>?
    private var stopped = false

    /// Staged rows `1...seq` are committed and readable from another connection.
    func committed(through seq: Int64) {
        condition.lock()
        committed = max(committed, seq)
        condition.broadcast()
        condition.unlock()
    }

    /// Staging has ended: every row it wrote is committed, or it failed.
    func end(with result: Result<ArchiveContentSummary, any Error>) {
        condition.lock()
        self.result = result
        condition.broadcast()
        condition.unlock()
    }

    /// Asks both threads to stop (the import's task was cancelled, or the apply step failed).
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    /// Blocks until rows through `seq` are committed, staging has ended, or the import is
    /// stopped. Returns the last committed row, whether staging has ended, and whether it
    /// failed (then no row of it is worth copying).
    func waitForRows(through seq: Int64) -> (committed: Int64, ended: Bool, failed: Bool) {
        condition.lock()
        defer { condition.unlock() }
        while committed < seq && result == nil && !stopped { condition.wait() }
        let failed = if case .failure = result { true } else { false }
        return (committed, result != nil, failed)
    }

    /// Blocks until staging has ended, and returns its summary or throws its error.
    func stagingResult() throws -> ArchiveContentSummary {
        condition.lock()
        while result == nil { condition.wait() }
        let result = self.result!
        condition.unlock()
        return try result.get()
    }
}
