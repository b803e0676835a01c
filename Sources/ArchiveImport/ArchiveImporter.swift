import Foundation
import HistoryStore
import StatusCrypto
import StatusWire
import Synchronization

/// Options for importing archives.
public struct ArchiveImportOptions: Sendable {
    public var mode: HydrationMode
    public var limits: DecodingLimits
    /// Import even when the archive is already recorded as imported.
    public var force: Bool
    /// Threads that verify messages (signatures, IDs) while one writes them; 1 verifies on the
    /// writing thread. Default: one per core.
    public var verificationWorkers: Int
    /// The member's hash-ratchet group keys (`keys import`): encrypted messages whose key is
    /// here are opened and verified like the others.
    public var keys: (any HashRatchetKeyring)?

    public static var defaultVerificationWorkers: Int { ProcessInfo.processInfo.activeProcessorCount }

    public init(mode: HydrationMode = .replace, limits: DecodingLimits = .default, force: Bool = false,
                verificationWorkers: Int = ArchiveImportOptions.defaultVerificationWorkers, keys: (any HashRatchetKeyring)? = nil) {
        self.keys = keys
        self.mode = mode
        self.limits = limits
        self.force = force
        self.verificationWorkers = max(1, verificationWorkers)
    }
}

/// What importing one archive did.
public struct ArchiveImportResult: Sendable, Codable, Equatable {
    public var archiveID: ArchiveID
    public var cid: String
    public var from: UInt64
    public var to: UInt64
    public var compression: ArchiveCompression
    /// Archived entries read (a segmented message counts once per segment).
    public var entries: Int
    public var counts: HydrationCounts
    /// Messages not stored, by reason.
    public var rejected: [RejectionReason: Int]
}

/// Decodes, verifies and hydrates one archive: the whole pipeline for a file on disk.
///
/// Decoding and verifying run outside the store's write transactions, one archived message at
/// a time, handed a chunk at a time to the thread that applies them (`HistoryDatabase.hydrate`),
/// so memory does not grow with the archive, a chat client's writes wait only for one short
/// transaction, and any failure leaves nothing visible.
///
/// ```swift
/// let importer = ArchiveImporter(database: database, communityID: try CommunityID("0x02…"))
/// let result = try await importer.importArchive(entry, path: "blobs/\(entry.cid)")
/// ```
public struct ArchiveImporter: Sendable {
    public let database: HistoryDatabase
    public let communityID: CommunityID
    public var communityKey: PublicKey { communityID.publicKey }

    public init(database: HistoryDatabase, communityID: CommunityID) {
        self.database = database
        self.communityID = communityID
    }

    /// What this decoder can read. An archive it rejects is remembered as bad and not
    /// downloaded again; bump this when decoding learns something new (hash-ratchet keys, a
    /// new compression, a relaxed check) so that archives rejected before are tried again.
    ///
    /// 2: revision 1 could reject an archive whose file this machine could not open or read (a
    /// full file table, no memory): such rejections said nothing of the bytes. Every archive
    /// revision 1 rejected is tried once more after the upgrade; the bad ones are rejected again.
    public static let decoderRevision = 2

    /// How many archived entries are read between two calls of an import's `progress`.
    public static let progressInterval = 1_000

    /// Imports the archive in the file at `path`: the import on the database's writer,
    /// suspending instead of blocking a thread of Swift's cooperative pool.
    ///
    /// `progress` is called with the number of archived entries read so far, every
    /// `progressInterval` entries (for a progress bar). `verified` is called when every message
    /// is decoded and verified, before the rows are written into the history database (the
    /// caller may start verifying the next archive). Cancelling the calling task stops the
    /// import within a few hundred messages: nothing of the archive becomes visible.
    ///
    /// Throws `ArchiveImportFailure`, which says what a retry can do and whether the file is
    /// worth keeping: `.waitingForKey` for an encrypted archive whose key the member does not
    /// hold (nothing is stored; import it again once the key is imported), `.rejected` only for
    /// bytes that were read again and are what the entry's CID names, `.cancelled` when stopped.
    ///
    /// ```swift
    /// let result = try await importer.importArchive(entry, path: file.path) { entries in print(entries) }
    /// ```
    public func importArchive(
        _ entry: ArchiveIndexEntry, path: String, options: ArchiveImportOptions = .init(),
        verified: @escaping @Sendable () -> Void = {}, progress: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws(ArchiveImportFailure) -> ArchiveImportResult {
        try await importArchive(entry, options: options, verified: verified, progress: progress,
                                recheck: { await CIDCheck.file(at: path, against: entry.cid) }) { try FileByteSource(path: path) }
    }

    /// Imports the archive whose bytes `open` returns as stored (raw, zlib or gzip, or
    /// hash-ratchet encrypted: then opened with `options.keys`); `open` is called again to
    /// classify a failure and to read an encrypted archive whole. `recheck` reads the bytes
    /// again against the entry's CID when they fail to decode (by default: `open`'s bytes,
    /// hashed as a storage node would).
    public func importArchive(
        _ entry: ArchiveIndexEntry, options: ArchiveImportOptions = .init(),
        verified: @escaping @Sendable () -> Void = {}, progress: @escaping @Sendable (Int) -> Void = { _ in },
        recheck: (@Sendable () async -> CIDCheck)? = nil, open: @escaping @Sendable () throws -> any ByteSource
    ) async throws(ArchiveImportFailure) -> ArchiveImportResult {
        do {
            return try await importEitherForm(entry, options: options, verified: verified, progress: progress, open: open)
        } catch {
            let recheck = recheck ?? { await CIDCheck.bytes(open, against: entry.cid) }
            throw await ArchiveImportFailure.classify(error, recheck: recheck)
        }
    }

    private func importEitherForm(
        _ entry: ArchiveIndexEntry, options: ArchiveImportOptions,
        verified: @escaping @Sendable () -> Void, progress: @escaping @Sendable (Int) -> Void,
        open: @escaping @Sendable () throws -> any ByteSource
    ) async throws -> ArchiveImportResult {
        do {
            return try await importPlaintext(entry, options: options, verified: verified, progress: progress, open: open)
        } catch ArchiveDecodingError.encrypted {
            // An encrypted community's archive: opened whole, off the cooperative pool.
            let archive = try await offCooperativePool { try EncryptedArchive.open(try open(), limits: options.limits, keys: options.keys) }
            do {
                return try await importPlaintext(entry, options: options, verified: verified, progress: progress) { MemoryByteSource(archive) }
            } catch ArchiveDecodingError.encrypted {
                throw ArchiveDecodingError.malformed(context: "the decrypted archive is not an archive")
            }
        }
    }

    private func importPlaintext(
        _ entry: ArchiveIndexEntry, options: ArchiveImportOptions,
        verified: @escaping @Sendable () -> Void, progress: @escaping @Sendable (Int) -> Void,
        open: @escaping @Sendable () throws -> any ByteSource
    ) async throws -> ArchiveImportResult {
        let record = ArchiveRecord(id: entry.id.string, communityID: communityID.string, cid: entry.cid.string)
        // Handed out of the writer's closure, which runs on GRDB's queue.
        let decoded = Mutex<Decoded?>(nil)
        let counts = try await classifyingEncryption(options: options, open: open) {
            try await database.hydrate(archive: record, mode: options.mode, force: options.force) { writer in
                let result = try self.decode(entry, into: writer.write, options: options, progress: progress, open: open)
                decoded.withLock { $0 = result }
                verified()
                return result.summary
            }
        }
        return result(entry, decoded.withLock { $0 }!, counts)
    }

    /// What decoding one archive found, beside the rows it wrote.
    struct Decoded: Sendable {
        /// What the store records (reasons by name: the store knows nothing of the wire).
        var summary: ArchiveContentSummary
        var compression: ArchiveCompression
        var rejected: [RejectionReason: Int]
    }

    /// Reads the archive one message at a time, verifies them a batch at a time (in parallel
    /// when `options.verificationWorkers` > 1) and hands each verified message to `write`, in
    /// archive order (an import's `ArchiveHydrationWriter.write`).
    func decode(
        _ entry: ArchiveIndexEntry, into write: (StoredMessage) throws -> Void, options: ArchiveImportOptions,
        progress: (Int) throws -> Void, open: () throws -> any ByteSource
    ) throws -> Decoded {
        let (source, compression) = try ArchiveInput.open(AnyByteSource(try open()), limits: options.limits)
        var reader = ArchiveReader(source: source, limits: options.limits)
        var unwrapper = ArchivedMessageUnwrapper(communityKey: communityKey, keys: options.keys)
        let verification = ParallelVerification(workers: options.verificationWorkers, communityKey: communityKey, keys: options.keys)
        var metadata: WireWakuMessageArchiveMetadata?
        var entries = 0
        var rejected: [RejectionReason: Int] = [:]
        var batch: [ArchivedMessageUnwrapper.Assembled] = []
        batch.reserveCapacity(ParallelVerification.batchSize)
        // Encrypted messages whose key is not held: kept raw with the archive (`HeldMessages`).
        var held: [HeldMessage] = []
        // The batch being verified while the one before it is written.
        var verifying: (VerifiedBatch, [ArchivedMessageUnwrapper.Assembled])?
        func store(_ verified: VerifiedBatch, _ submitted: [ArchivedMessageUnwrapper.Assembled]) throws {
            for (outcome, assembled) in zip(verified.outcomes(), submitted) {
                switch outcome {
                case .message(let message) where !(entry.from..<entry.to).contains(message.timestamp):
                    // An archive is canonical for its range only; outside it, it could
                    // overwrite what another archive (or nobody) vouches for.
                    rejected[.outsideArchiveRange, default: 0] += 1
                case .message(let message):
                    try write(StoredMessage(archived: message, communityID: communityID))
                case .rejected(let reason):
                    rejected[reason, default: 0] += 1
                    if reason == .encryptedKeyUnavailable, let key = assembled.hashRatchetKey {
                        let entry: [UInt8] = try assembled.archivedEntry.serializedBytes()
                        held.append(HeldMessage(entryID: Hex.encode(Keccak256.hash(entry), prefixed: true), groupID: key.groupID,
                                                keyID: key.keyID, entry: Data(entry)))
                    }
                case .pending:
                    break
                }
            }
        }
        func submitBatch() throws {
            let submitted = batch
            let next = verification.start(submitted)
            batch.removeAll(keepingCapacity: true)
            if let (previous, previousBatch) = verifying { try store(previous, previousBatch) }
            verifying = (next, submitted)
        }
        while let element = try reader.next() {
            switch element {
            case .metadata(let found):
                try Self.check(found, against: entry)
                metadata = found
            case .message(let archived):
                entries += 1
                if entries % Self.progressInterval == 0 { try progress(entries) }
                switch unwrapper.assemble(archived) {
                case .assembled(let message):
                    batch.append(message)
                    if batch.count == ParallelVerification.batchSize { try submitBatch() }
                case .rejected(let reason):
                    rejected[reason, default: 0] += 1
                case .pending:
                    break
                }
            }
        }
        try submitBatch()
        if let (last, lastBatch) = verifying { try store(last, lastBatch) }
        guard metadata != nil else { throw ArchiveDecodingError.metadataMissing }
        let incomplete = unwrapper.incompleteSegmentedMessages()
        if incomplete > 0 { rejected[.incompleteSegments, default: 0] += incomplete }
        return Decoded(
            summary: ArchiveContentSummary(from: entry.from, to: entry.to, contentTopics: entry.contentTopics.map(\.string),
                                           entryCount: entries, rejections: Dictionary(uniqueKeysWithValues: rejected.map { ($0.key.rawValue, $0.value) }),
                                           held: held),
            compression: compression, rejected: rejected)
    }

    /// A hash-ratchet encrypted archive reads as malformed: say so instead.
    private func classifyingEncryption<T>(options: ArchiveImportOptions, open: () throws -> any ByteSource,
                                          _ work: () async throws -> T) async throws -> T {
        do { return try await work() } catch let error as ArchiveDecodingError {
            throw reclassified(error, options: options, open: open)
        }
    }

    private func reclassified(_ error: ArchiveDecodingError, options: ArchiveImportOptions, open: () throws -> any ByteSource) -> ArchiveDecodingError {
        switch error {
        case .inflatedSizeExceeded, .fieldTooLarge, .unreadableFile, .outOfMemory, .inflaterUnavailable, .encrypted, .waitingForKey,
             .decryptionFailed:
            return error
        case .malformed, .truncated, .corruptCompression, .metadataMissing, .metadataMismatch:
            // A hash-ratchet message's first field (installation_id, a string) may even decode as
            // archive metadata, and fail only the metadata check: look for field 101 whatever failed.
            if let raw = try? open(), ArchiveReader.isHashRatchetEncrypted(source: raw, limits: options.limits) {
                return .encrypted(what: "archive")
            }
            return error
        }
    }

    private func result(_ entry: ArchiveIndexEntry, _ decoded: Decoded, _ counts: HydrationCounts) -> ArchiveImportResult {
        ArchiveImportResult(
            archiveID: entry.id, cid: entry.cid.string, from: entry.from, to: entry.to, compression: decoded.compression,
            entries: decoded.summary.entryCount, counts: counts, rejected: decoded.rejected)
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
    public init(archived message: UnwrappedMessage, communityID: CommunityID) {
        let chat = message.chatMessage
        self.init(
            id: message.id, communityID: communityID.string,
            chatID: chat.flatMap { $0.chatID.isEmpty ? nil : $0.chatID },
            contentTopic: message.contentTopic.string,
            author: Hex.encode(message.author.compressed, prefixed: true),
            type: Int(message.type), clock: chat?.clock, timestamp: Int64(message.timestamp) * 1000,
            payload: Data(message.payload), text: chat?.text, thirdPartyID: message.thirdPartyID,
            source: .archive)
    }
}
