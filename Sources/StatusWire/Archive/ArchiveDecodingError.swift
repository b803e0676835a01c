#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Why an archive or an index as a whole cannot be used. Each case says what happened
/// and, where the user can act, what to do.
public enum ArchiveDecodingError: Error, Equatable, CustomStringConvertible {
    /// This machine could not read the file (`errno`: EMFILE, ENFILE, ENOMEM, EACCES, ENOENT, EIO,
    /// …; 0 when unknown). Says nothing of the bytes.
    case unreadableFile(path: String, reason: String, errno: Int32 = 0)
    /// zlib could not get the memory it needed (Z_MEM_ERROR). Says nothing of the bytes.
    case outOfMemory(context: String)
    /// zlib could not start (`inflateInit` failed for a reason other than memory: a library
    /// version mismatch). It reads no data: says nothing of the bytes.
    case inflaterUnavailable(detail: String)
    case corruptCompression(format: String, detail: String)
    case inflatedSizeExceeded(limit: Int)
    case fieldTooLarge(size: UInt64, limit: Int)
    case truncated(context: String)
    case malformed(context: String)
    /// The bytes are a hash-ratchet `ProtocolMessage` (an encrypted community's archive or
    /// index, status-wire.md §3.6), not yet opened: the reader's signal to open them with the
    /// member's keys.
    case encrypted(what: String)
    /// Encrypted with a group key the member does not hold: waiting for `keys import`, not bad.
    case waitingForKey(what: String, key: HashRatchetKeyReference)
    /// Encrypted with a key the member holds, but it does not open (a wrong key, damaged bytes,
    /// a sequence number further than status-go accepts).
    case decryptionFailed(what: String, key: HashRatchetKeyReference)
    case metadataMissing
    case metadataMismatch(detail: String)

    /// Whether the failure is this machine's (a file it could not open or read, memory it
    /// could not get) rather than something the bytes were read and proved to be. Only the
    /// latter may reject an archive: a full file table must never turn good history into a
    /// permanent rejection.
    public var isLocalFailure: Bool {
        switch self {
        case .unreadableFile, .outOfMemory, .inflaterUnavailable: return true
        case .corruptCompression, .inflatedSizeExceeded, .fieldTooLarge, .truncated, .malformed, .encrypted, .waitingForKey,
             .decryptionFailed, .metadataMissing, .metadataMismatch:
            return false
        }
    }

    /// Whether the failure is a limit the user sets (`DecodingLimits`), not something of the
    /// bytes: a run with a raised limit reads them.
    public var isOverLimit: Bool {
        switch self {
        case .inflatedSizeExceeded, .fieldTooLarge: return true
        default: return false
        }
    }

    /// Whether the file the failure names is gone (ENOENT): it must be downloaded again.
    public var isMissingFile: Bool {
        if case .unreadableFile(_, _, let code) = self { return code == ENOENT }
        return false
    }

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason, _):
            return "cannot read \(path): \(reason)"
        case .outOfMemory(let context):
            return "out of memory \(context)"
        case .inflaterUnavailable(let detail):
            return "zlib could not start: \(detail)"
        case .corruptCompression(let format, let detail):
            return "corrupt \(format) data: \(detail)"
        case .inflatedSizeExceeded(let limit):
            return "archive inflates to more than \(limit) bytes (the limit); rejected as a possible decompression bomb (raise --max-archive-bytes if it is genuine)"
        case .fieldTooLarge(let size, let limit):
            return "a field of \(size) bytes exceeds the per-message limit of \(limit) bytes (raise --max-message-bytes if it is genuine)"
        case .truncated(let context):
            return "truncated protobuf: \(context)"
        case .malformed(let context):
            return "malformed protobuf: \(context)"
        case .encrypted(let what):
            return "the \(what) is hash-ratchet encrypted"
        case .waitingForKey(let what, let key):
            return "the \(what) is encrypted with a key this member does not hold yet (\(key)): it waits for `keys import` of that key"
        case .decryptionFailed(let what, let key):
            return "the \(what) is encrypted with a key this member holds (\(key)), but it does not open: a wrong key, or damaged bytes"
        case .metadataMissing:
            return "the archive has no metadata (from, to, content topics)"
        case .metadataMismatch(let detail):
            return "the archive's metadata does not match its index entry: \(detail)"
        }
    }
}
