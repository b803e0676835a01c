import HistoryStore
import Logging
import StatusWire

/// Everything a community's driver asks of the world: the storage node, the importer, the
/// database, the clock, and whoever listens to its events. The driver's loop (`CommunitySyncDriver`)
/// decides nothing with them; it runs the machine's actions through them and feeds their
/// results back. `LiveSyncEffects` is the real thing; tests give a fake that records the order
/// of calls, on a manual clock (`DriverEffectsOrderTests`).
///
/// ```swift
/// let driver = CommunitySyncDriver(configuration: config, effects: LiveSyncEffects(…))
/// ```
///
/// The work calls (`fetchIndex`, `download`, `importArchive`) run in child tasks and may be
/// cancelled: they then return `.cancelled`, never a failure. The record calls log and report a
/// failed write themselves (the next start redoes or re-derives what they record): none throws.
public protocol SyncEffects: Sendable {
    var logger: Logger { get }

    /// The machine's state as the database left it, after removing what an interrupted run left
    /// behind. `rescan`: forget which index was processed. Throws when that state cannot be read
    /// or the archives directory cannot be made (the driver does not start).
    func resume(rescan: Bool) async throws -> CommunitySyncMachine.Persisted

    /// Downloads the index `cid` and reads its entries.
    func fetchIndex(_ cid: CID) async -> WorkResult<[ArchiveIndexEntry]>
    /// Downloads one archive to a file, recorded for the next start.
    func download(_ entry: ArchiveIndexEntry) async -> WorkResult<DownloadedArchive>
    /// Imports one downloaded archive; `verified` is called once its messages are verified and
    /// its rows are being written. An archive already in the database is `.succeeded`.
    func importArchive(_ archive: DownloadedArchive, verified: @escaping @Sendable () -> Void) async -> WorkResult<Void>

    /// Waits `delay` on the driver's clock (a timer); throws when cancelled.
    func sleep(for delay: Duration) async throws

    /// Records the accepted announcement's clock and index (status-go does so at once).
    func saveAnnouncement(clock: UInt64, indexCID: CID) async
    /// Records that every planned archive of `cid` is imported for `selection`.
    func markProcessed(_ cid: CID, selection: ArchiveSelection) async
    /// Records how a plan ended (`status` shows its error).
    func recordOutcome(_ outcome: SyncOutcome) async
    /// Tells listeners (events file, metrics, progress display) what happened.
    func report(_ event: SyncEvent)
}

/// How a piece of the driver's work ended.
public enum WorkResult<Value: Sendable>: Sendable {
    case succeeded(Value)
    case failed(ArchiveFailure)
    /// Stopped before it had a result (a newer plan, the driver stopping): nothing to report.
    case cancelled
}
