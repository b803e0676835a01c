import StatusCrypto

/// An encrypted community's archive: the whole file is a hash-ratchet `ProtocolMessage` whose
/// payload is the `WakuMessageArchive` (status-wire.md §3.6; status-go builds it with
/// `BuildHashRatchetMessage(communityID, archive)` and reads it back whole). It is opened in
/// memory, as status-go does, bounded by the archive size limit.
///
/// ```swift
/// let archive = try EncryptedArchive.open(try FileByteSource(path: path), limits: limits, keys: keyring)
/// var reader = ArchiveReader(source: MemoryByteSource(archive))
/// ```
public enum EncryptedArchive {
    /// The archive inside. Throws `ArchiveDecodingError`: `.waitingForKey` when the member does
    /// not hold the key, `.decryptionFailed` when the key held does not open it,
    /// `.inflatedSizeExceeded` past the limit, `.malformed` when it is not a hash-ratchet message.
    public static func open(_ source: any ByteSource, limits: DecodingLimits, keys: (any HashRatchetKeyring)?) throws -> [UInt8] {
        let bytes = try readAll(source, limit: limits.maxInflatedBytes)
        switch HashRatchetEnvelope.open(bytes, keys: keys) {
        case .opened(let archive): return archive
        case .keyMissing(let key): throw ArchiveDecodingError.waitingForKey(what: "archive", key: key)
        case .notOpened(let key): throw ArchiveDecodingError.decryptionFailed(what: "archive", key: key)
        case .notEncrypted: throw ArchiveDecodingError.malformed(context: "neither an archive nor a hash-ratchet message")
        }
    }

    static func readAll(_ source: any ByteSource, limit: Int) throws -> [UInt8] {
        var source = source
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try chunk.withUnsafeMutableBytes { try source.read(into: $0) }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
            if bytes.count > limit { throw ArchiveDecodingError.inflatedSizeExceeded(limit: limit) }
        }
    }
}
