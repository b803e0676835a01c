import Foundation
import ArchiveImport
import HistoryStore
import StatusWire

/// What happened, as the driver reports it (the moments status-go signals, and more).
public enum SyncEvent: Sendable {
    case announcementAccepted(clock: UInt64, indexCID: String)
    case announcementIgnored(IgnoredAnnouncement)
    case indexDownloaded(indexCID: String, archives: Int, rejectedEntries: Int)
    /// The selected archives not imported yet; `knownBad` of them (archive ID → failure) failed
    /// verification before and are not downloaded again.
    case planned(archives: Int, knownBad: [ArchiveID: ArchiveFailure])
    case downloadStarted(archiveID: ArchiveID, cid: String)
    /// Bytes received so far of an archive being downloaded (at each 5 % of it, and at the end).
    case downloadProgress(archiveID: ArchiveID, bytes: Int64, totalBytes: Int64)
    case archiveDownloaded(archiveID: ArchiveID, from: UInt64, to: UInt64, bytes: Int64)
    case importingArchive(archiveID: ArchiveID)
    /// Archived entries read so far by a running import (every 1,000).
    case importProgress(archiveID: ArchiveID, entries: Int)
    case archiveImported(ArchiveImportResult)
    case archiveFailed(archiveID: ArchiveID, failure: ArchiveFailure)
    /// An encrypted community's index or archive needs a group key the member does not hold:
    /// kept and recorded (`status`, the API), not retried until keys are imported.
    case waitingForKey(KeyWait)
    /// Keys arrived for encrypted messages imported archives held: they are now the archives'
    /// messages (`stored` new, `replaced` local copies, across `archives` archives), with no download.
    case heldMessagesReleased(archives: Int, stored: Int, replaced: Int)
    /// A database write of the sync failed (`what` it was recording); the sync goes on, and the
    /// next start redoes or re-derives it.
    case recordFailed(what: String, error: String)
    case finished(SyncOutcome)
    /// The driver waits `delay`: the quiet window after an announcement, or the backoff before
    /// a failed plan is tried again (a progress display counts it down).
    case waiting(SyncTimer, delay: Duration)
}
