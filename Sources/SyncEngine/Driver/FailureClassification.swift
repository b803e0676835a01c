import ArchiveImport
import CodexClient
import Foundation
import HistoryStore
import PeerHTTP
import StatusWire

/// Where the driver turns what its steps threw into the machine's `ArchiveFailure`s, once, by
/// type: no decision downstream reads an error's text.
extension ArchiveFailure {
    /// An import's typed failure, as the machine, the report and the events carry it.
    init(importing failure: ArchiveImportFailure) {
        let detail = "\(failure)"
        switch failure {
        case .rejected(let rejection, _): self.init(.rejected, step: .import, detail, rejection: rejection)
        case .overLimit: self.init(.overLimit, step: .import, detail)
        case .waitingForKey: self.init(.waitingForKey, step: .import, detail)
        case .unreadableFile: self.init(.unreadableFile, step: .import, detail)
        case .localResources: self.init(.localResources, step: .import, detail)
        case .database(let database, _): self.init(.database, step: .import, detail, database: database)
        // Neither is a failure of the archive: the driver does not hand them on (see `importArchive`).
        case .alreadyImported, .cancelled: self.init(.localResources, step: .import, detail)
        }
    }
}

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
        case is DiskSpaceError, is CocoaError, is POSIXError:
            // Foundation's file errors are `CocoaError`s (with the `POSIXError` underneath).
            return .localDisk
        default:
            return .download
        }
    }

    /// A failure to read a fetched index: over a limit the user sets, or content that does not decode.
    static func ofIndexDecoding(_ error: any Error) -> ArchiveFailureKind {
        if let decoding = error as? ArchiveDecodingError, decoding.isOverLimit { return .overLimit }
        // Out of memory or files while reading it: nothing is known of the index.
        if LocalFailure.isLocal(error) { return .localResources }
        return .rejected
    }
}

extension ArchiveRejection {
    /// What a fetch that can never succeed proved of the dataset (nil for every other failure).
    static func ofFetch(_ error: any Error) -> ArchiveRejection? {
        if case .protectedDataset? = error as? CodexError { return .unverifiable }
        return nil
    }
}
