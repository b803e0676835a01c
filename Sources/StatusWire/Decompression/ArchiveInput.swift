/// Opens archive bytes for decoding: detects the compression from the first bytes and
/// returns a source of plain protobuf bytes, bounded by `limits.maxInflatedBytes`.
///
/// ```swift
/// let (source, compression) = try ArchiveInput.open(path: "blobs/zDvZ…")
/// var reader = ArchiveReader(source: source)
/// ```
public enum ArchiveInput {
    public static func open(path: String, limits: DecodingLimits = .default) throws -> (any ByteSource, ArchiveCompression) {
        try open(FileByteSource(path: path), limits: limits)
    }

    public static func open(bytes: [UInt8], limits: DecodingLimits = .default) throws -> (any ByteSource, ArchiveCompression) {
        try open(MemoryByteSource(bytes), limits: limits)
    }

    public static func open<Source: ByteSource>(_ source: Source, limits: DecodingLimits = .default) throws -> (any ByteSource, ArchiveCompression) {
        var peeking = PeekingByteSource(upstream: source)
        let prefix = try peeking.peek(2)
        let compression = ArchiveCompression.detect(prefix: prefix)
        switch compression {
        case .none:
            return (LimitedByteSource(upstream: peeking, limit: limits.maxInflatedBytes), .none)
        case .zlib, .gzip:
            return (try InflatingByteSource(upstream: peeking, format: compression, limit: limits.maxInflatedBytes), compression)
        }
    }
}

/// Lets the first bytes be looked at and then read again.
struct PeekingByteSource<Upstream: ByteSource>: ByteSource {
    private var upstream: Upstream
    private var pending: [UInt8] = []

    init(upstream: Upstream) { self.upstream = upstream }

    mutating func peek(_ count: Int) throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: count)
        while pending.count < count {
            let got = try chunk.withUnsafeMutableBytes { try upstream.read(into: $0) }
            if got == 0 { break }
            pending.append(contentsOf: chunk[0..<got])
        }
        return Array(pending.prefix(count))
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if !pending.isEmpty {
            let count = min(buffer.count, pending.count)
            pending.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: count) }
            pending.removeFirst(count)
            return count
        }
        return try upstream.read(into: buffer)
    }
}

/// Fails once more than `limit` bytes have been read (uncompressed archives obey the same
/// size limit as inflated ones).
struct LimitedByteSource<Upstream: ByteSource>: ByteSource {
    private var upstream: Upstream
    private var produced = 0
    private let limit: Int

    init(upstream: Upstream, limit: Int) {
        self.upstream = upstream
        self.limit = limit
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = try upstream.read(into: buffer)
        produced += count
        if produced > limit { throw ArchiveDecodingError.inflatedSizeExceeded(limit: limit) }
        return count
    }
}
