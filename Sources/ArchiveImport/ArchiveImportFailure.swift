import Failures
import Foundation
import HistoryStore
import StatusCrypto
import StatusWire

/// Why one archive's import stored nothing: the importer's only error. Each case says what a
/// retry can do and what becomes of the downloaded file (`keepsDownload`); the sync carries it,
/// unchanged in meaning, to the machine, the report and the `archive.failed` event.
///
/// ```swift
/// do {
///     let result = try await importer.importArchive(entry, path: file)
/// } catch .waitingForKey(let key) {
///     // keep the file; import again after `keys import` of `key`
/// } catch {
///     if !error.keepsDownload { try FileManager.default.removeItem(atPath: file) }
/// }
/// ```
public enum ArchiveImportFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes were read whole, are what the archive's CID names, and are not a valid archive
    /// (`detail`: the decoder's words): never imported by this decoder revision.
    case rejected(ArchiveRejection, detail: String)
    /// Over a decoding limit the user sets (`--max-archive-bytes`, `--max-message-bytes`): a run
    /// with a raised limit imports it.
    case overLimit(detail: String)
    /// Encrypted with a group key the member does not hold: the file waits for `keys import`.
    case waitingForKey(HashRatchetKeyReference)
    /// The downloaded file is gone, or no longer hashes to its CID (damaged on disk): download it again.
    case unreadableFile(detail: String)
    /// This machine could not read the file or make the import's claim file (out of open
    /// files or memory, no permission, a full or read-only disk; `errno` when known). Nothing
    /// is known of the bytes: the file is kept and imported again.
    case localResources(detail: String, errno: Int32?)
    /// The history database refused (SQLite's result code says which): the file is kept and
    /// imported again.
    case database(DatabaseFailure, detail: String)
    /// Imported before (and not forced): nothing to do.
    case alreadyImported
    /// The calling task was cancelled: the import was rolled back.
    case cancelled

    /// Whether the downloaded file is worth keeping: a retry imports it without a new download.
    public var keepsDownload: Bool {
        switch self {
        case .waitingForKey, .localResources, .database, .cancelled: return true
        case .rejected, .overLimit, .unreadableFile, .alreadyImported: return false
        }
    }

    public var description: String {
        switch self {
        case .rejected(_, let detail), .overLimit(let detail), .unreadableFile(let detail), .localResources(let detail, _):
            return detail
        case .waitingForKey(let key): return "waiting for key \(key.keyID) of group \(key.groupID)"
        case .database(let failure, let detail): return "\(failure): \(detail); \(failure.fix)"
        case .alreadyImported: return "already imported"
        case .cancelled: return "cancelled"
        }
    }
}

/// What a second read of a file says of it against its archive's CID.
public enum CIDCheck: Equatable, Sendable {
    /// It hashes to the CID (in the manifest layout of some storage node generation).
    case matches
    /// It was read whole and hashes to something else.
    case differs
    /// It could not be read (why): nothing is known.
    case unreadable(String)
}

extension ArchiveImportFailure {
    /// Classifies whatever an import's steps threw, by type alone: only bytes that were read,
    /// are what the CID names and do not decode may reject an archive. A failure of this
    /// machine (open files, memory, permissions, a read-only or full disk) keeps the file.
    /// `recheck` reads the bytes again against the CID; it is asked only when they failed to decode.
    static func classify(_ error: any Error, recheck: () async -> CIDCheck) async -> ArchiveImportFailure {
        switch error {
        case let failure as ArchiveImportFailure:
            return failure
        case is CancellationError:
            return .cancelled
        case HistoryStoreError.alreadyImported:
            return .alreadyImported
        case let decoding as ArchiveDecodingError:
            return await classify(decoding, recheck: recheck)
        default:
            // Busy past the timeout, disk full, read-only: the file is kept for the next attempt.
            if let database = DatabaseFailure(error) { return .database(database, detail: "\(error)") }
            if let code = LocalFailure.errno(of: error), LocalFailure.codes.contains(code) || error is StagingFileError {
                return .localResources(detail: "\(error)", errno: code)
            }
            // Anything else about the file: download it again.
            return .unreadableFile(detail: "\(error)")
        }
    }

    private static func classify(_ error: ArchiveDecodingError, recheck: () async -> CIDCheck) async -> ArchiveImportFailure {
        if let rejection = error.rejection {
            switch await recheck() {
            case .matches: return .rejected(rejection, detail: "\(error)")
            case .differs: return .unreadableFile(detail: "\(error); the file no longer hashes to its CID")
            case .unreadable(let why): return .localResources(detail: "\(error); re-checking the file: \(why)", errno: nil)
            }
        }
        if case .waitingForKey(_, let key) = error { return .waitingForKey(key) }
        if error.isOverLimit { return .overLimit(detail: "\(error)") }
        // The rest is this machine's: a file that is gone is downloaded again; one that is there
        // (out of files or memory, no permission) is imported again.
        if error.isMissingFile { return .unreadableFile(detail: "\(error)") }
        return .localResources(detail: "\(error)", errno: LocalFailure.errno(of: error))
    }
}

extension ArchiveDecodingError {
    /// What the bytes proved to be, for the failures that are the bytes' (nil for a limit, a
    /// missing key, or a failure of this machine).
    public var rejection: ArchiveRejection? {
        switch self {
        case .corruptCompression: return .corruptCompression
        case .truncated: return .truncated
        case .malformed, .encrypted: return .malformed
        case .metadataMissing: return .metadataMissing
        case .metadataMismatch: return .metadataMismatch
        case .decryptionFailed: return .decryptionFailed
        case .unreadableFile, .outOfMemory, .inflaterUnavailable, .inflatedSizeExceeded, .fieldTooLarge, .waitingForKey: return nil
        }
    }
}

/// Failures of this machine rather than of a peer or of an archive's bytes: out of open files
/// (EMFILE, ENFILE) or memory (ENOMEM), a full or read-only disk (ENOSPC, EDQUOT, EROFS), no
/// permission (EACCES, EPERM), an I/O error (EIO). They say nothing of an archive: it is kept
/// and tried again, never rejected.
public enum LocalFailure {
    public static let codes: Set<Int32> = [EMFILE, ENFILE, ENOMEM, ENOSPC, EDQUOT, EROFS, EACCES, EPERM, EIO]

    /// The `errno` an error carries, wherever it carries it: the store's and decoder's typed
    /// errors, `POSIXError`, or a Foundation file error's underlying `POSIXError`.
    public static func errno(of error: any Error) -> Int32? {
        switch error {
        case let staging as StagingFileError: return staging.errno
        case let posix as POSIXError: return posix.code.rawValue
        case let decoding as ArchiveDecodingError:
            if case .unreadableFile(_, _, let code) = decoding, code != 0 { return code }
            return nil
        case let cocoa as CocoaError: return cocoa.underlying.flatMap(errno(of:))
        default: return nil
        }
    }

    /// Whether `error` is this machine's, not the bytes' or a peer's.
    public static func isLocal(_ error: any Error) -> Bool {
        if error is StagingFileError { return true }
        if let decoding = error as? ArchiveDecodingError, decoding.isLocalFailure { return true }
        return errno(of: error).map(codes.contains) ?? false
    }
}

extension CIDCheck {
    /// Reads the file at `path` again and hashes it as a storage node would, off the
    /// cooperative pool (it reads the whole file).
    public static func file(at path: String, against cid: CID) async -> CIDCheck {
        await hashing(against: cid) { try CID.codex(ofFileAt: path, .statusArchive) }
    }

    /// Reads `open`'s bytes whole and hashes them as a storage node would.
    static func bytes(_ open: @escaping @Sendable () throws -> any ByteSource, against cid: CID) async -> CIDCheck {
        await hashing(against: cid) {
            var source = try open()
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
                if count == 0 { break }
                bytes.append(contentsOf: buffer[..<count])
            }
            return try CID.codex(of: bytes, .statusArchive)
        }
    }

    private static func hashing(against cid: CID, _ hash: @escaping @Sendable () throws -> CodexDatasetAddress) async -> CIDCheck {
        do {
            let address = try await offCooperativePool(hash)
            return address.layout(matching: cid) != nil ? .matches : .differs
        } catch CodexDatasetError.empty {
            return .differs
        } catch {
            return .unreadable("\(error)")
        }
    }
}
