import StatusWire

/// What the driver's loop reads from its mailbox: an announcement, a timer, or a child task's
/// typed result.
enum DriverEvent: Sendable {
    case announcement(ArchiveAnnouncement)
    /// `timer` numbers the timer that fired: one replaced or cancelled since is ignored.
    case timerFired(SyncTimer, timer: Int)
    case indexFetched([ArchiveIndexEntry], generation: Int)
    case indexFailed(ArchiveFailure, generation: Int)
    case downloaded(DownloadedArchive, generation: Int)
    case downloadFailed(ArchiveIndexEntry, ArchiveFailure, generation: Int)
    /// A child cancelled before it had a result (a newer plan, stopping).
    case cancelled
    /// An import's archive is verified and its rows are being written: not a result, the
    /// import goes on (its result comes as `imported` or `importFailed`).
    case importVerified(archiveID: ArchiveID)
    case imported(archiveID: ArchiveID)
    case importFailed(archiveID: ArchiveID, ArchiveFailure)

    init(fetching result: WorkResult<[ArchiveIndexEntry]>, generation: Int) {
        switch result {
        case .succeeded(let entries): self = .indexFetched(entries, generation: generation)
        case .failed(let failure): self = .indexFailed(failure, generation: generation)
        case .cancelled: self = .cancelled
        }
    }

    init(downloading entry: ArchiveIndexEntry, _ result: WorkResult<DownloadedArchive>, generation: Int) {
        switch result {
        case .succeeded(let archive): self = .downloaded(archive, generation: generation)
        case .failed(let failure): self = .downloadFailed(entry, failure, generation: generation)
        case .cancelled: self = .cancelled
        }
    }

    init(importing archiveID: ArchiveID, _ result: WorkResult<Void>) {
        switch result {
        case .succeeded: self = .imported(archiveID: archiveID)
        case .failed(let failure): self = .importFailed(archiveID: archiveID, failure)
        case .cancelled: self = .cancelled
        }
    }
}
