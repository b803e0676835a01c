import Foundation
import HistoryStore
import StatusCrypto
import StatusWire

/// Options for importing archives.
public struct ArchiveImportOptions: Sendable {
    public var mode: HydrationMode
    public var limits: DecodingLimits
    /// Import even when the archive is already recorded as imported.
    public var force: Bool

    public init(mode: HydrationMode = .replace, limits: DecodingLimits = .default, force: Bool = false) {
        self.mode = mode
        self.limits = limits
        self.force = force
    }
}

/// What importing one archive did.
public struct ArchiveImportResult: Sendable, Codable, Equatable {
    public var archiveID: String
    public var cid: String
    public var from: UInt64
    public var to: UInt64
    public var compression: ArchiveCompression
    /// Archived entries read (a segmented message counts once per segment).
    public var entries: Int
    public var counts: HydrationCounts
    /// Messages not stored, by reason.
    public var rejected: [String: Int]
}

/// Decodes, verifies and hydrates one archive: the whole pipeline for a file on disk.
///
/// Decoding runs inside the store's transaction, one archived message at a time, so memory
/// does not grow with the archive and any failure leaves the database untouched.
///
/// ```swift
/// let importer = try ArchiveImporter(database: database, communityID: "0x02…")
/// let result = try importer.importArchive(entry, path: "blobs/\(entry.cid)")
/// ```
public struct ArchiveImporter: Sendable {
    public let database: HistoryDatabase
    public let communityID: String
    public let communityKey: PublicKey

    /// `communityID` is `0x` + the 33-byte compressed community public key.
    public init(database: HistoryDatabase, communityID: String) throws {
        self.database = database
        self.communityKey = try CommunityIdentifier.publicKey(communityID)
        self.communityID = Hex.encode(communityKey.compressed, prefixed: true)
    }

    /// The canonical (lowercase) form of a community ID; throws when it is not one.
    public static func normalizedCommunityID(_ communityID: String) throws -> String {
        Hex.encode(try CommunityIdentifier.publicKey(communityID).compressed, prefixed: true)
    }

    /// What this decoder can read. An archive it rejects is remembered as bad and not
    /// downloaded again; bump this when decoding learns something new (hash-ratchet keys, a
    /// new compression, a relaxed check) so that archives rejected before are tried again.
    public static let decoderRevision = 1

    /// How many archived entries are read between two calls of an import's `progress`.
    public static let progressInterval = 1_000

    /// `progress` is called with the number of archived entries read so far, every
    /// `progressInterval` entries (for a progress bar). An error it throws aborts the import:
    /// the transaction rolls back and the error is rethrown (how a shutdown stops a long import).
    public func importArchive(
        _ entry: ArchiveIndexEntry, path: String, options: ArchiveImportOptions = .init(), progress: (Int) throws -> Void = { _ in }
    ) throws -> ArchiveImportResult {
        try importArchive(entry, options: options, progress: progress) { try FileByteSource(path: path) }
    }

    /// `open` returns the archive's bytes as stored (raw, zlib or gzip); it is called again
    /// only to classify a failure.
    public func importArchive(
        _ entry: ArchiveIndexEntry, options: ArchiveImportOptions = .init(), progress: (Int) throws -> Void = { _ in },
        open: () throws -> any ByteSource
    ) throws -> ArchiveImportResult {
        let record = ArchiveRecord(id: entry.id, communityID: communityID, cid: entry.cid.string)
        var compression = ArchiveCompression.none
        var entries = 0
        var rejected: [String: Int] = [:]
        let counts: HydrationCounts
        do {
            counts = try database.hydrate(archive: record, mode: options.mode, force: options.force) { writer in
                let (source, detected) = try ArchiveInput.open(AnyByteSource(try open()), limits: options.limits)
                compression = detected
                var reader = ArchiveReader(source: source, limits: options.limits)
                var unwrapper = ArchivedMessageUnwrapper(communityKey: communityKey)
                var metadata: WireWakuMessageArchiveMetadata?
                while let element = try reader.next() {
                    switch element {
                    case .metadata(let found):
                        try Self.check(found, against: entry)
                        metadata = found
                    case .message(let archived):
                        entries += 1
                        if entries % Self.progressInterval == 0 { try progress(entries) }
                        switch unwrapper.unwrap(archived) {
                        case .message(let message) where !(entry.from..<entry.to).contains(message.timestamp):
                            // An archive is canonical for its range only; outside it, it could
                            // overwrite what another archive (or nobody) vouches for.
                            rejected[RejectionReason.outsideArchiveRange.rawValue, default: 0] += 1
                        case .message(let message):
                            try writer.write(StoredMessage(archived: message, communityID: communityID))
                        case .rejected(let reason):
                            rejected[reason.rawValue, default: 0] += 1
                        case .pending:
                            break
                        }
                    }
                }
                guard metadata != nil else { throw ArchiveDecodingError.metadataMissing }
                let incomplete = unwrapper.incompleteSegmentedMessages()
                if incomplete > 0 { rejected[RejectionReason.incompleteSegments.rawValue, default: 0] += incomplete }
                return ArchiveContentSummary(
                    from: entry.from, to: entry.to, contentTopics: entry.contentTopics.map(\.string),
                    entryCount: entries, rejections: rejected)
            }
        } catch let error as ArchiveDecodingError {
            switch error {
            case .malformed, .truncated:
                if let raw = try? open(), ArchiveReader.isHashRatchetEncrypted(source: raw, limits: options.limits) {
                    throw ArchiveDecodingError.encrypted(what: "archive")
                }
                throw error
            default:
                throw error
            }
        }
        return ArchiveImportResult(
            archiveID: entry.id, cid: entry.cid.string, from: entry.from, to: entry.to, compression: compression,
            entries: entries, counts: counts, rejected: rejected)
    }

    /// The archive must describe itself as its index entry does: the index entry is what the
    /// announcement's signature vouches for (through its hash), the archive is not signed.
    static func check(_ metadata: WireWakuMessageArchiveMetadata, against entry: ArchiveIndexEntry) throws {
        guard metadata.from == entry.from, metadata.to == entry.to else {
            throw ArchiveDecodingError.metadataMismatch(
                detail: "archive says [\(metadata.from), \(metadata.to)), index says [\(entry.from), \(entry.to))")
        }
        guard metadata.contentTopic.map({ Array($0) }) == entry.contentTopics.map(\.bytes) else {
            throw ArchiveDecodingError.metadataMismatch(detail: "content topics differ")
        }
    }
}

extension StoredMessage {
    /// The row for a verified archive message.
    public init(archived message: UnwrappedMessage, communityID: String) {
        let chat = message.chatMessage
        self.init(
            id: message.id, communityID: communityID,
            chatID: chat.flatMap { $0.chatID.isEmpty ? nil : $0.chatID },
            contentTopic: message.contentTopic.string,
            author: Hex.encode(message.author.compressed, prefixed: true),
            type: Int(message.type), clock: chat?.clock, timestamp: Int64(message.timestamp) * 1000,
            payload: Data(message.payload), text: chat?.text, thirdPartyID: message.thirdPartyID,
            source: .archive)
    }
}

/// Parses community IDs (`0x` + 33-byte compressed key).
public enum CommunityIdentifier {
    public static func publicKey(_ communityID: String) throws -> PublicKey {
        guard let bytes = try? Hex.decode(communityID), bytes.count == 33, let key = try? PublicKey(bytes: bytes) else {
            throw CommunityIDError.invalid(communityID)
        }
        return key
    }
}

public enum CommunityIDError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let id):
            return "\"\(id.prefix(80))\" is not a community ID: expected 0x followed by 66 hex digits (a compressed secp256k1 public key)"
        }
    }
}
