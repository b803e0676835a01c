/// Why an archive's bytes cannot be imported: they were read whole, they are what the archive's
/// CID names, and they are not a valid archive of the community's. No retry of this decoder
/// revision imports them (`ArchiveImporter.decoderRevision` says when one may).
///
/// A plain value every layer can name: the importer throws it (`ArchiveImportFailure.rejected`),
/// the machine's `ArchiveFailure` carries it, and `archive.failed` events show it.
public enum ArchiveRejection: String, Sendable, Equatable, Codable, CaseIterable, CustomStringConvertible {
    /// zlib or gzip data that does not inflate.
    case corruptCompression = "corrupt-compression"
    /// The protobuf ends inside a field.
    case truncated
    /// The protobuf is not a `WakuMessageArchive` (or the decrypted bytes are not one).
    case malformed
    /// The archive names no `from`, `to` and content topics.
    case metadataMissing = "metadata-missing"
    /// The archive's range or content topics differ from its index entry's (what the community signed).
    case metadataMismatch = "metadata-mismatch"
    /// Encrypted with a key the member holds, which does not open it.
    case decryptionFailed = "decryption-failed"
    /// The storage node serves the dataset in a form this client cannot verify (erasure-coded).
    case unverifiable

    public var description: String {
        switch self {
        case .corruptCompression: return "its compressed data does not inflate"
        case .truncated: return "it ends inside a field"
        case .malformed: return "it is not a message archive"
        case .metadataMissing: return "it has no metadata"
        case .metadataMismatch: return "its metadata differs from its index entry"
        case .decryptionFailed: return "the key held does not open it"
        case .unverifiable: return "the storage node serves it in a form that cannot be verified here"
        }
    }
}
