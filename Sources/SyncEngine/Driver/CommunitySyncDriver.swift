import Logging
import StatusWire

/// Runs one community's `CommunitySyncMachine`: one `run()` loop owns the machine, performs its
/// actions through `SyncEffects`, and feeds their results back as events. Index fetches,
/// downloads, imports and timers are child tasks of one task group; each posts its typed result
/// (`DriverEvent`) to the loop's mailbox. A plan's fetch and downloads share a `WorkLane`, which
/// a newer plan cancels. Cancelling `run()` is stopping: the machine gets `stopRequested()`,
/// the children are cancelled (a running import stops and takes back the rows it had written,
/// unpublished), and when `run()` returns nothing of this driver runs any more. The shape of
/// swift-service-lifecycle's `ServiceGroup`: no stored `Task`s, no flags.
///
/// ```swift
/// let driver = try CommunitySyncDriver(configuration: config, database: db, codex: codex, archivesDirectory: dir)
/// try await withThrowingTaskGroup(of: Void.self) { group in
///     group.addTask { try await driver.run(initial: announcements) { outcome in print(outcome) } }
///     …                  // until the outcome wanted
///     group.cancelAll()  // stop
/// }
/// ```
///
/// `run` throws only when the persisted state cannot be read at start (`HistoryStoreError`,
/// `DatabaseError`) or the archives directory cannot be made.
public struct CommunitySyncDriver: Sendable {
    public let configuration: CommunitySyncMachine.Configuration
    let effects: any SyncEffects

    /// A driver with the given effects (tests give a fake).
    public init(configuration: CommunitySyncMachine.Configuration, effects: any SyncEffects) {
        self.configuration = configuration
        self.effects = effects
    }

    /// Resumes from the persisted state (imports what was downloaded, fetches what is missing),
    /// acts on `initial` (a store query's answer), then on each announcement of `live`, until
    /// the calling task is cancelled. `onOutcome` hears how each plan ends, and `.nothingToDo`
    /// each time the driver falls idle without a plan ending (after `initial` when nothing was
    /// to be done, after resumed imports): no outcome is coming until a new announcement.
    /// `rescan`: forget which index was processed, so the newest one is fetched again and every
    /// selected archive not in the database is planned (archives rejected before stay rejected).
    public func run(
        initial: [ArchiveAnnouncement] = [], live: AsyncStream<ArchiveAnnouncement>? = nil, rescan: Bool = false,
        onOutcome: @escaping @Sendable (SyncOutcome) -> Void = { _ in }
    ) async throws {
        var machine = CommunitySyncMachine(configuration: configuration, persisted: try await effects.resume(rescan: rescan))
        let (mailbox, post) = AsyncStream.makeStream(of: DriverEvent.self)
        await withDiscardingTaskGroup { group in
            var loop = DriverLoop(effects: effects, post: post, onOutcome: onOutcome)
            if let live {
                group.addTask { for await announcement in live { post.yield(.announcement(announcement)) } }
            }
            await loop.perform(machine.started(), group: &group)
            for announcement in initial {
                await loop.perform(machine.announcementReceived(announcement), group: &group)
            }
            loop.reportIdle(machine)
            // Ends when the calling task is cancelled: that is stopping.
            for await event in mailbox {
                await loop.perform(loop.actions(for: event, machine: &machine), group: &group)
                loop.reportIdle(machine)
            }
            await loop.perform(machine.stopRequested(), group: &group)
            effects.logger.debug("stopping: \(loop.inFlight) task(s) cancelled", metadata: ["community": "\(configuration.communityID)"])
        }
    }
}
