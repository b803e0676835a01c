import Foundation

/// What the two threads of one import share: the verified rows, a chunk at a time (the reading
/// thread hands them over, the apply thread writes them), whether reading has ended and with
/// what, and whether the import must stop.
///
/// Why in memory, and bounded: each row is written once, into `message_row`, by the thread
/// that applies (an earlier design wrote every row to a scratch database first and copied it
/// over, which cost the one thread that cannot be parallel a second write and a read of each
/// row; issue 28). At most `capacity` chunks wait, so memory stays constant however large the
/// archive, and a reader that runs ahead (the apply thread waiting for a chat client's write)
/// waits too instead of buffering the archive.
///
/// ```swift
/// // reading thread                          // apply thread
/// try handoff.put(rows)                      while case .rows(let rows) = handoff.take() { … }
/// handoff.end(with: .success(summary))       let summary = try handoff.readingResult()
/// ```
final class ImportHandoff: @unchecked Sendable {
    /// What `take()` hands the apply thread.
    enum Next {
        /// The next chunk, in archive order.
        case rows([StoredMessage])
        /// Reading has ended and every chunk was taken; `readingResult()` says how it ended.
        case ended
        /// The import was stopped, or reading failed: no row is worth writing any more.
        case stopped
    }

    /// Chunks that may wait for the apply thread (`ApplyPacing.waitingChunks`): at least one to
    /// write while the next is read.
    let capacity: Int
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var waiting: [[StoredMessage]] = []
    private var result: Result<ArchiveContentSummary, any Error>?
    private var stopped = false
    /// How long each side waited for the other, for `ImportStageTimes`.
    private var readingWaited: Duration = .zero
    private var applyWaited: Duration = .zero

    init(capacity: Int = 2) {
        precondition(capacity > 0, "a handoff holds at least one chunk")
        self.capacity = capacity
    }

    /// Hands a chunk over, waiting while `capacity` chunks wait. Throws `CancellationError`
    /// once the import is stopped (the apply thread failed, or the task was cancelled).
    func put(_ rows: [StoredMessage]) throws {
        condition.lock()
        defer { condition.unlock() }
        if waiting.count >= capacity && !stopped {
            let started = ContinuousClock.now
            while waiting.count >= capacity && !stopped { condition.wait() }
            readingWaited += .now - started
        }
        if stopped { throw CancellationError() }
        waiting.append(rows)
        condition.broadcast()
    }

    /// Reading has ended: every row it read was handed over, or it failed.
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
        waiting.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    /// What each side waited, once both have ended.
    var waits: (reading: Duration, apply: Duration) {
        condition.lock()
        defer { condition.unlock() }
        return (readingWaited, applyWaited)
    }

    var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    /// Blocks until `chunks` chunks wait (at most `capacity`), reading has ended, or the import
    /// is stopped, and hands over the first. A failed reading is `.stopped` at once, whatever
    /// chunks wait: none of them will be published.
    func take(whenWaiting chunks: Int = 1) -> Next {
        let enough = min(max(chunks, 1), capacity)
        condition.lock()
        defer { condition.unlock() }
        if waiting.count < enough && result == nil && !stopped {
            let started = ContinuousClock.now
            while waiting.count < enough && result == nil && !stopped { condition.wait() }
            applyWaited += .now - started
        }
        return takeLocked()!
    }

    /// The chunk that waits, or `.stopped`, without waiting: nil when no chunk waits (the apply
    /// thread, which holds the write lock, commits rather than wait with it). Never `.ended`:
    /// the end is taken with `take`, after the commit and its pause, so that a stop in the pause
    /// is seen before the archive is published.
    func takeIfReady() -> Next? {
        condition.lock()
        defer { condition.unlock() }
        switch takeLocked() {
        case .ended?, nil: return nil
        case let next?: return next
        }
    }

    private func takeLocked() -> Next? {
        if stopped { return .stopped }
        if case .failure = result { return .stopped }
        guard !waiting.isEmpty else { return result == nil ? nil : .ended }
        let rows = waiting.removeFirst()
        condition.broadcast()
        return .rows(rows)
    }

    /// Why the apply thread was handed `.stopped`: reading's error when it failed, else
    /// `CancellationError` (the task was cancelled). Does not wait for reading to end.
    var stopReason: any Error {
        condition.lock()
        defer { condition.unlock() }
        if case .failure(let error) = result { return error }
        return CancellationError()
    }

    /// Blocks until reading has ended, and returns its summary or throws its error.
    func readingResult() throws -> ArchiveContentSummary {
        condition.lock()
        while result == nil { condition.wait() }
        let result = self.result!
        condition.unlock()
        return try result.get()
    }
}
