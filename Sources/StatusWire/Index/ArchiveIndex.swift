import StatusCrypto
import SwiftProtobuf

/// One archive as the index lists it.
public struct ArchiveIndexEntry: Sendable, Hashable, Codable {
    /// `0x` + hex(keccak256(serialized index metadata)).
    public let id: ArchiveID
    public let cid: CID
    /// Unix seconds, `[from, to)`.
    public let from: UInt64
    public let to: UInt64
    /// The 4-byte content topics the archive covers.
    public let contentTopics: [ContentTopic]

    public init(id: ArchiveID, cid: CID, from: UInt64, to: UInt64, contentTopics: [ContentTopic]) {
        self.id = id
        self.cid = cid
        self.from = from
        self.to = to
        self.contentTopics = contentTopics
    }
}

/// An index entry that was not used, and why.
public struct RejectedIndexEntry: Error, Sendable, Hashable, Codable {
    public let key: String
    public let reason: String
}

/// The Codex archive index: a map from archive ID to `{version, metadata, cid}`.
///
/// Each entry's key must equal `0x` + hex(keccak256(the entry's serialized value)); the
/// value bytes are hashed exactly as they appear on the wire. A mismatching or unusable
/// entry is reported in `rejected` and the rest are still used.
///
/// ```swift
/// let index = try ArchiveIndex(bytes: indexBytes)
/// for entry in index.entries { … }       // oldest first
/// for bad in index.rejected { print(bad.key, bad.reason) }
/// ```
public struct ArchiveIndex: Sendable {
    public let entries: [ArchiveIndexEntry]
    /// Unix seconds past which a time cannot be real (2^40 s, about the year 36800): keeps
    /// millisecond arithmetic far from overflow.
    public static let latestPlausibleTime: UInt64 = 1 << 40
    public let rejected: [RejectedIndexEntry]

    /// Reads an index; an encrypted community's index (a hash-ratchet `ProtocolMessage`,
    /// status-wire.md §3.6) is opened with `keys` first.
    ///
    /// Throws `ArchiveDecodingError`: `.waitingForKey` when the member does not hold its key,
    /// `.decryptionFailed` when the key held does not open it, otherwise what does not decode.
    public init(bytes: [UInt8], limits: DecodingLimits = .default, keys: (any HashRatchetKeyring)? = nil) throws {
        do {
            try self.init(plaintext: bytes, limits: limits)
        } catch ArchiveDecodingError.encrypted {
            switch HashRatchetEnvelope.open(bytes, keys: keys) {
            case .opened(let plaintext):
                do { try self.init(plaintext: plaintext, limits: limits) } catch ArchiveDecodingError.encrypted {
                    throw ArchiveDecodingError.malformed(context: "the decrypted index is not an index")
                }
            case .keyMissing(let key): throw ArchiveDecodingError.waitingForKey(what: "archive index", key: key)
            case .notOpened(let key): throw ArchiveDecodingError.decryptionFailed(what: "archive index", key: key)
            case .notEncrypted: throw ArchiveDecodingError.malformed(context: "no archives, and not a hash-ratchet message either")
            }
        }
    }

    private init(plaintext bytes: [UInt8], limits: DecodingLimits) throws {
        var scanner = ProtobufScanner(source: MemoryByteSource(bytes), maxFieldBytes: limits.maxMessageBytes)
        var entries: [ArchiveIndexEntry] = []
        var rejected: [RejectedIndexEntry] = []
        do {
            while let field = try scanner.nextField() {
                switch (field.number, field.wireType) {
                case (1, .lengthDelimited):
                    switch Self.decodeEntry(try scanner.readBytes(), limits: limits) {
                    case .success(let entry): entries.append(entry)
                    case .failure(let bad): rejected.append(bad)
                    }
                case (101, _):
                    throw ArchiveDecodingError.encrypted(what: "archive index")
                default:
                    try scanner.skip(field.wireType)
                }
            }
        } catch let error as ArchiveDecodingError {
            if case .encrypted = error { throw error }
            if ArchiveReader.isHashRatchetEncrypted(source: MemoryByteSource(bytes)) {
                throw ArchiveDecodingError.encrypted(what: "archive index")
            }
            throw error
        }
        // status-go's rule: bytes that yield no archives are an encrypted index.
        if entries.isEmpty && rejected.isEmpty && !bytes.isEmpty {
            throw ArchiveDecodingError.encrypted(what: "archive index")
        }
        var sorted = entries.sorted { ($0.from, $0.id) < ($1.from, $1.id) }
        if sorted.count > limits.maxIndexEntries {
            // The newest are kept: they are what a member misses most, and sync fetches newest first.
            let refused = sorted.count - limits.maxIndexEntries
            for entry in sorted.prefix(refused) {
                rejected.append(RejectedIndexEntry(key: entry.id.string, reason: "the index lists \(sorted.count) archives, over the limit of "
                    + "\(limits.maxIndexEntries): the \(refused) oldest are not fetched"))
            }
            sorted.removeFirst(refused)
        }
        self.entries = sorted
        self.rejected = rejected.sorted { $0.key < $1.key }
    }

    private static func decodeEntry(_ bytes: [UInt8], limits: DecodingLimits) -> Result<ArchiveIndexEntry, RejectedIndexEntry> {
        var scanner = ProtobufScanner(source: MemoryByteSource(bytes), maxFieldBytes: limits.maxMessageBytes)
        var key = ""
        var value: [UInt8]?
        do {
            while let field = try scanner.nextField() {
                switch (field.number, field.wireType) {
                case (1, .lengthDelimited): key = String(decoding: try scanner.readBytes(), as: UTF8.self)
                case (2, .lengthDelimited): value = try scanner.readBytes()
                default: try scanner.skip(field.wireType)
                }
            }
        } catch {
            return .failure(RejectedIndexEntry(key: key, reason: "malformed map entry: \(error)"))
        }
        guard let value else { return .failure(RejectedIndexEntry(key: key, reason: "entry has no value")) }
        let expected = ArchiveID(hashing: value)
        guard key.lowercased() == expected.string else {
            return .failure(RejectedIndexEntry(key: key, reason: "key does not match keccak256 of the entry (expected \(expected))"))
        }
        guard let metadata = try? WireArchiveIndexMetadata(serializedBytes: value) else {
            return .failure(RejectedIndexEntry(key: key, reason: "entry does not decode"))
        }
        guard metadata.hasMetadata else {
            return .failure(RejectedIndexEntry(key: key, reason: "entry has no archive metadata"))
        }
        let cid: CID
        do { cid = try CID(metadata.cid) } catch {
            return .failure(RejectedIndexEntry(key: key, reason: "\(error)"))
        }
        // An archive is a Codex upload, named by its manifest CID; a block or tree CID would be
        // answered 404 "invalid content type for manifest" by a real node (nim-codex node.nim:124-125).
        guard cid.isCodexManifest else {
            return .failure(RejectedIndexEntry(
                key: key, reason: "CID \(cid) is not a Codex manifest CID (codec 0x\(String(cid.codec, radix: 16)), expected 0xcd01)"))
        }
        let topics = metadata.metadata.contentTopic.compactMap { ContentTopic(bytes: Array($0)) }
        guard topics.count == metadata.metadata.contentTopic.count else {
            return .failure(RejectedIndexEntry(key: key, reason: "a content topic is not 4 bytes"))
        }
        guard metadata.metadata.to <= ArchiveIndex.latestPlausibleTime else {
            return .failure(RejectedIndexEntry(key: key, reason: "time range ends after the year 36000"))
        }
        guard metadata.metadata.from < metadata.metadata.to else {
            return .failure(RejectedIndexEntry(key: key, reason: "empty time range [\(metadata.metadata.from), \(metadata.metadata.to))"))
        }
        return .success(ArchiveIndexEntry(
            id: expected, cid: cid, from: metadata.metadata.from, to: metadata.metadata.to, contentTopics: topics))
    }
}
