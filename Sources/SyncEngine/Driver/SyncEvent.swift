import Foundation
import ArchiveImport
import StatusWire

/// What happened, as the driver reports it (the moments status-go signals, and more).
public enum SyncEvent: Sendable {
    case announcementAccepted(clock: UInt64, indexCID: String)
    case announcementIgnored(String)
    case indexDownloaded(indexCID: String, archives: Int, rejectedEntries: Int)
    case downloadStarted(archiveID: String, cid: String)
    case archiveDownloaded(archiveID: String, from: UInt64, to: UInt64, bytes: Int64)
    case importingArchive(archiveID: String)
    case archiveImported(ArchiveImportResult)
    case archiveFailed(archiveID: String, reason: String)
    case finished(SyncOutcome)
}
