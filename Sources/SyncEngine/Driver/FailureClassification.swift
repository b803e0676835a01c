import ArchiveImport
import CodexClient
import Foundation
import HistoryStore
import PeerHTTP
import StatusWire

/// Where the driver turns thrown errors into `ArchiveFailureKind`s, once, by type: no decision
/// downstream reads an error's text.
extension ArchiveFailureKind {
    /// A failure to fetch a dataset (an archive or the index) from the Codex node.
    static func ofFetch(_ error: any Error) -> ArchiveFailureKind {
        switch error {
        case let peer as PeerError:
            switch peer.kind {
            case .unreachable, .timedOut: return .peerUnreachable
            case .status(let code) where code >= 500: return .peerUnreachable
            case .status, .invalidResponse, .interrupted, .cancelled: return .download
            }
        case let codex as CodexError:
            // A wrong address or API is the node's, like a node that is down. A protected
            // dataset cannot be verified here by any retry; the rest (an unknown manifest layout
            // among them: an upgrade reads it) may heal.
            if codex.isNodeProblem { return .peerUnreachable }
            return codex.isRetryable ? .download : .rejected
        case is DiskSpaceError, is CocoaError:
            return .localDisk
        default:
            return (error as NSError).domain == NSPOSIXErrorDomain ? .localDisk : .download
        }
    }

    /// A failure to read a fetched index: over a limit the user sets, or content that does not decode.
    static func ofIndexDecoding(_ error: any Error) -> ArchiveFailureKind {
        if let decoding = error as? ArchiveDecodingError, isOverLimit(decoding) { return .overLimit }
        // Out of memory or files while reading it: nothing is known of the index.
        if LocalFailure.isLocal(error) { return .localResources }
        return .rejected
    }

    /// Whether a decoding failure came from a limit the user sets, not from the bytes.
    static func isOverLimit(_ error: ArchiveDecodingError) -> Bool {
        switch error {
        case .inflatedSizeExceeded, .fieldTooLarge: return true
        default: return false
        }
    }
}

/// Failures of this machine rather than of a peer or of an archive's bytes: out of open files
/// (EMFILE, ENFILE) or memory (ENOMEM), a full or read-only disk (ENOSPC, EDQUOT, EROFS), no
/// permission (EACCES, EPERM), an I/O error (EIO), a staging file that could not be made. They
/// say nothing of an archive: it is kept and tried again, never rejected.
enum LocalFailure {
    static let codes: Set<Int32> = [EMFILE, ENFILE, ENOMEM, ENOSPC, EDQUOT, EROFS, EACCES, EPERM, EIO]

    /// The `errno` an error carries, wherever it carries it.
    static func errno(of error: any Error) -> Int32? {
        switch error {
        case let staging as StagingFileError: return staging.errno
        case let posix as POSIXError: return posix.code.rawValue
        case let decoding as ArchiveDecodingError:
            if case .unreadableFile(_, _, let code) = decoding, code != 0 { return code }
            return nil
        default:
            let ns = error as NSError
            if ns.domain == NSPOSIXErrorDomain { return Int32(ns.code) }
            if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? any Error { return errno(of: underlying) }
            return nil
        }
    }

    static func isLocal(_ error: any Error) -> Bool {
        if error is StagingFileError { return true }
        if let decoding = error as? ArchiveDecodingError, decoding.isLocalFailure { return true }
        return errno(of: error).map(codes.contains) ?? false
    }
}

/// What a second read of a downloaded file says of it against its archive's CID.
enum CIDCheck: Equatable, Sendable {
    /// It hashes to the CID (in the manifest layout of some storage node generation).
    case matches
    /// It was read whole and hashes to something else.
    case differs
    /// It could not be read (why): nothing is known.
    case unreadable(String)
}

/// What becomes of an archive whose import failed (other than one already imported or
/// waiting for a key), decided by the error's type alone: only bytes that were read, are what
/// the CID names and do not decode may reject an archive. A failure of this machine (open
/// files, memory, permissions, a read-only or full disk) keeps the file for the retry.
struct ImportFailureDecision: Equatable, Sendable {
    var kind: ArchiveFailureKind
    /// For `.database`: which failure of the database.
    var database: DatabaseFailure? = nil
    /// Whether the download is forgotten (file deleted, downloaded again next time).
    var forgetDownload: Bool
    /// What the decision adds to the error's own words.
    var note: String? = nil

    /// `recheck` reads the file again against its CID; asked only when the bytes failed to decode.
    static func decide(_ error: any Error, recheck: () async -> CIDCheck) async -> ImportFailureDecision {
        if let decoding = error as? ArchiveDecodingError {
            // Over a limit the user may raise: not remembered past this run.
            if ArchiveFailureKind.isOverLimit(decoding) { return .init(kind: .overLimit, forgetDownload: true) }
            if decoding.isLocalFailure {
                // A file that is gone is downloaded again; one that is there is imported again.
                return decoding.isMissingFile ? .init(kind: .unreadableFile, forgetDownload: true)
                    : .init(kind: .localResources, forgetDownload: false)
            }
            switch await recheck() {
            case .matches:
                // Read, what the CID names, and bad: downloading again would not help.
                return .init(kind: .rejected, forgetDownload: true)
            case .differs:
                // Damaged on disk since its download: downloaded again.
                return .init(kind: .unreadableFile, forgetDownload: true, note: "the file no longer hashes to its CID")
            case .unreadable(let why):
                return .init(kind: .localResources, forgetDownload: false, note: "re-checking the file: \(why)")
            }
        }
        // Busy past the timeout, disk full, read-only: the file is kept for the next attempt.
        if let database = DatabaseFailure(error) { return .init(kind: .database, database: database, forgetDownload: false) }
        if LocalFailure.isLocal(error) { return .init(kind: .localResources, forgetDownload: false) }
        // Anything else about the file: download it again next time.
        return .init(kind: .unreadableFile, forgetDownload: true)
    }
}
