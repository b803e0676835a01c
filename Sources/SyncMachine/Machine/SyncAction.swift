import StatusWire

/// An archive file on disk, downloaded and not yet imported.
public struct DownloadedArchive: Sendable, Hashable, Codable {
    public var entry: ArchiveIndexEntry
    public var path: String

    public init(entry: ArchiveIndexEntry, path: String) {
        self.entry = entry
        self.path = path
    }
}

/// The machine's two timers; starting one replaces the other.
public enum SyncTimer: Sendable, Equatable {
    /// The spec's 20-second wait after the last announcement.
    case quietWindow
    /// The wait before trying a failed plan again.
    case retry
}

/// Why an announcement was not acted on.
public enum IgnoredAnnouncement: Sendable, Equatable, CustomStringConvertible {
    case notSignedByCommunity(signer: String)
    case olderClock(clock: UInt64, stored: UInt64)
    case alreadyProcessed(cid: String)

    /// A stable name for reports, metrics labels and events (the details vary, the key does not).
    public var key: String {
        switch self {
        case .notSignedByCommunity: return "not-signed-by-community"
        case .olderClock: return "older-clock"
        case .alreadyProcessed: return "already-processed"
        }
    }

    public var description: String {
        switch self {
        case .notSignedByCommunity(let signer): return "signed by \(signer), not by the community key"
        case .olderClock(let clock, let stored): return "clock \(clock) is older than the newest accepted one (\(stored))"
        case .alreadyProcessed(let cid): return "index \(cid) is already fully imported"
        }
    }
}

/// What the machine asks its driver to do. The machine performs no I/O itself.
public enum SyncAction: Sendable, Equatable {
    /// Persist the accepted announcement's clock and CID (status-go does so at once).
    case persistAnnouncement(clock: UInt64, indexCID: CID)
    case startTimer(SyncTimer, after: Duration)
    case cancelTimer
    case fetchIndex(CID, generation: Int)
    /// The index is diffed: `archives` are selected and not imported yet; `knownBad` of them
    /// (archive ID → failure) failed verification before and are not downloaded again.
    /// Informational.
    case planned(archives: Int, knownBad: [ArchiveID: ArchiveFailure])
    case download(ArchiveIndexEntry, generation: Int)
    /// Stop every download of that generation (a newer announcement arrived).
    case cancelDownloads(generation: Int)
    case importArchive(DownloadedArchive, generation: Int)
    /// Every planned archive of this index is imported: the index is processed for `selection`
    /// (a later plan with a selection it does not cover fetches the index again).
    case markProcessed(CID, selection: ArchiveSelection)
    case ignored(IgnoredAnnouncement)
    case finished(SyncOutcome)
}
