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
            // A protected dataset cannot be verified here by any retry; the rest may heal.
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
