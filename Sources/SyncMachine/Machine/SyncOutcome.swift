import Failures
import StatusWire

/// Why one archive of a plan was not imported. Classified where the failure is known (the
/// driver); it decides what a retry does with the archive and how reports and exit codes count it.
public enum ArchiveFailureKind: String, Sendable, Equatable, Codable, CaseIterable {
    /// The Codex node did not answer (down, timed out, HTTP 5xx): downloaded again on retry.
    case peerUnreachable = "peer-unreachable"
    /// The node answered without the archive (not found on the network yet, wrong bytes, cut
    /// short, too slow): downloaded again on retry.
    case download
    /// The bytes are what the archive's CID names and fail verification (or the dataset cannot
    /// be verified here): never downloaded again by this decoder revision.
    case rejected
    /// Over a decoding limit the user sets: not tried again in this run; a run with raised
    /// limits imports it.
    case overLimit = "over-limit"
    /// The database refused (busy past its timeout, full, read-only): the file is kept and
    /// imported again on retry.
    case database
    /// The downloaded file is gone or damaged on disk: downloaded again on retry.
    case unreadableFile = "unreadable-file"
    /// No room on the disk for the download, or the archives directory cannot be written:
    /// downloaded on retry, once there is room.
    case localDisk = "local-disk"
    /// This machine could not read a downloaded file it holds: out of open files (EMFILE,
    /// ENFILE) or memory, or not allowed to (EACCES, EROFS). Nothing is known of the bytes: the
    /// file is kept and imported again on retry; never a rejection.
    case localResources = "local-resources"
    /// Encrypted (an encrypted community's index or archive) with a group key the member does
    /// not hold: not a failure of anyone's, and nothing a timer can fix. An archive keeps its
    /// download; both are tried again when keys are imported (or at the next start), never on
    /// a retry timer (status-go retried every 100 ms for months).
    case waitingForKey = "waiting-for-key"

    /// Whether trying again in this run may import the archive.
    public var isRetryable: Bool {
        switch self {
        case .peerUnreachable, .download, .database, .unreadableFile, .localDisk, .localResources: return true
        case .rejected, .overLimit, .waitingForKey: return false
        }
    }
}

/// The step of an archive's sync that failed.
public enum ArchiveStep: String, Sendable, Equatable, Codable, CustomStringConvertible {
    /// Fetching or reading the community's index.
    case index
    /// Downloading the archive from the storage node.
    case download
    /// Decoding, verifying and storing the archive.
    case `import`

    public var description: String { rawValue }
}

/// One archive's failure: what kind (for decisions), at which step, and what happened (for
/// people). Decisions read `kind` (and `rejection`, `database`), never `reason`.
public struct ArchiveFailure: Sendable, Equatable, CustomStringConvertible {
    public var kind: ArchiveFailureKind
    /// What happened, in the failure's own words.
    public var detail: String
    /// False for archives a plan did not try, its failure budget being spent.
    public var attempted: Bool
    /// The step that failed; nil for a failure recorded by an earlier run (read back from the store).
    public var step: ArchiveStep?
    /// For `.rejected`: what the bytes proved to be (nil when recorded by an earlier run).
    public var rejection: ArchiveRejection?
    /// For `.database`: which failure of the database (busy, full, read-only, damaged), from
    /// SQLite's result code. Reports and events name it; its `fix` says what to do.
    public var database: DatabaseFailure?

    /// A failure known by its words alone (one recorded by an earlier run, a test's).
    public init(_ kind: ArchiveFailureKind, _ detail: String, attempted: Bool = true) {
        self.kind = kind
        self.detail = detail
        self.attempted = attempted
    }

    /// A failure at `step`.
    public init(_ kind: ArchiveFailureKind, step: ArchiveStep, _ detail: String,
                rejection: ArchiveRejection? = nil, database: DatabaseFailure? = nil) {
        self.init(kind, detail)
        self.step = step
        self.rejection = rejection
        self.database = database
    }

    /// A failure of the history database while working on an archive: the archive is kept and
    /// tried again.
    public static func database(_ failure: DatabaseFailure, step: ArchiveStep, _ error: any Error) -> ArchiveFailure {
        ArchiveFailure(.database, step: step, "\(failure): \(error); \(failure.fix)", database: failure)
    }

    /// What happened, for people: "step: detail".
    public var reason: String { step.map { "\($0): \(detail)" } ?? detail }

    public var description: String { reason }
}

/// Why a plan ended without every importable archive imported. The machine backs off and
/// tries again: every `PlanFailure` is one a retry may heal.
public enum PlanFailure: Sendable, Equatable, CustomStringConvertible {
    /// The index could not be fetched or read (`kind`: `.peerUnreachable`, `.download`, or
    /// `.rejected` for an index that does not decode).
    case index(CID, ArchiveFailure)
    /// Archives failed, at least one of them in a way a retry may heal (archive ID → failure;
    /// archives that can never be imported are listed too).
    case archives([ArchiveID: ArchiveFailure])

    /// What a person or a script does about it, most actionable first: a database failure
    /// (fix the database), an unreachable peer (start the node), or archives that failed.
    public enum Cause: String, Sendable, Equatable, Codable {
        case database
        case peerUnreachable = "peer-unreachable"
        case archivesFailed = "archives-failed"
        /// The index is encrypted with a key the member does not hold (`keys import`).
        case waitingForKey = "waiting-for-key"
    }

    public var cause: Cause {
        let kinds: [ArchiveFailureKind]
        switch self {
        case .index(_, let failure):
            if failure.kind == .waitingForKey { return .waitingForKey }
            kinds = [failure.kind]
        case .archives(let failures): kinds = failures.values.map(\.kind).filter(\.isRetryable)
        }
        if kinds.contains(.database) { return .database }
        if !kinds.isEmpty, kinds.allSatisfy({ $0 == .peerUnreachable }) { return .peerUnreachable }
        return .archivesFailed
    }

    public var description: String {
        switch self {
        case .index(let cid, let failure): return "index \(cid): \(failure.detail)"
        case .archives(let failures):
            // Tried ones first; at most five named (an index may list 100,000 archives).
            let ordered = failures.sorted { a, b in
                a.value.attempted != b.value.attempted ? a.value.attempted : a.key < b.key
            }
            let named = ordered.prefix(5).map { "\($0.key.string.prefix(18))…: \($0.value.reason)" }
            let more = failures.count > 5 ? "; and \(failures.count - 5) more" : ""
            return "\(failures.count) archive(s) failed: " + named.joined(separator: "; ") + more
        }
    }
}

/// How a plan ended.
public enum SyncOutcome: Sendable, Equatable, CustomStringConvertible {
    /// Everything importable of the index is imported. `unimportable`: archives of the plan that
    /// can never be imported as they are (content rejected, over a limit), by archive ID: they
    /// are reported, and do not make the community look failed.
    case completed(indexCID: CID, imported: Int, unimportable: [ArchiveID: ArchiveFailure])
    /// Something that may heal failed; the machine is in backoff with its retry timer running.
    case failed(PlanFailure)
    /// No announcement to act on and nothing left to import.
    case nothingToDo

    public var description: String {
        switch self {
        case .completed(let cid, let imported, let unimportable):
            return "completed: index \(cid) imported (\(imported) archives this run"
                + (unimportable.isEmpty ? ")" : "; \(unimportable.count) cannot be imported)")
        case .failed(let failure): return "failed (will retry): \(failure)"
        case .nothingToDo: return "nothing to do"
        }
    }
}
