import StatusWire
@testable import SyncEngine

/// A driver's `run` in a task of its own, for a test to feed and stop: `stop()` is cancelling
/// that task, which is what stopping a driver is.
struct RunningDriver {
    private let feed: AsyncStream<ArchiveAnnouncement>.Continuation
    private let task: Task<Void, any Error>
    /// Each plan's outcome (buffered: one reached before anyone reads it is not lost).
    let outcomes: AsyncStream<SyncOutcome>

    init(_ driver: CommunitySyncDriver, initial: [ArchiveAnnouncement] = [], rescan: Bool = false) {
        let (live, feed) = AsyncStream.makeStream(of: ArchiveAnnouncement.self)
        let (outcomes, post) = AsyncStream.makeStream(of: SyncOutcome.self)
        self.feed = feed
        self.outcomes = outcomes
        task = Task {
            defer { post.finish() }
            try await driver.run(initial: initial, live: live, rescan: rescan) { post.yield($0) }
        }
    }

    func receive(_ announcement: ArchiveAnnouncement) { feed.yield(announcement) }

    /// The next outcome; nil once the driver has stopped.
    func nextOutcome() async -> SyncOutcome? {
        for await outcome in outcomes { return outcome }
        return nil
    }

    /// Cancels `run` and waits until it has returned: nothing of the driver runs after this.
    func stop() async {
        task.cancel()
        _ = await task.result
    }
}
