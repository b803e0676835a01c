import CZlib

/// Inflates a zlib or gzip stream from an upstream source, chunk by chunk, and refuses to
/// produce more than `limit` bytes, so a decompression bomb stops here and not in memory.
public final class InflatingByteSource<Upstream: ByteSource>: ByteSource {
    private var upstream: Upstream
    private var stream = z_stream()
    private static var inputCapacity: Int { 64 * 1024 }
    /// Compressed bytes read from upstream; a stable allocation so zlib can point into it.
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
    private var inputStart = 0
    private var inputEnd = 0
    private var finished = false
    private var produced = 0
    private let limit: Int
    private let format: ArchiveCompression

    public init(upstream: Upstream, format: ArchiveCompression, limit: Int) throws {
        self.upstream = upstream
        self.limit = limit
        self.format = format
        // 15 window bits for zlib; +16 asks zlib to expect a gzip wrapper instead.
        let windowBits: Int32 = format == .gzip ? 15 + 16 : 15
        let status = czlib_inflate_init2(&stream, windowBits)
        guard status == Z_OK else {
            input.deallocate()
            // Init reads no data: its only failures are memory and a zlib build mismatch.
            if status == Z_MEM_ERROR { throw ArchiveDecodingError.outOfMemory(context: "starting to inflate \(format.rawValue) data") }
            throw ArchiveDecodingError.inflaterUnavailable(detail: "inflateInit for \(format.rawValue) data failed (\(status))")
        }
    }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, buffer.count > 0 else { return 0 }
        let out = buffer.bindMemory(to: UInt8.self)
        var written = 0
        while written == 0 && !finished {
            if inputStart == inputEnd {
                inputStart = 0
                inputEnd = try upstream.read(into: input)
                if inputEnd == 0 {
                    throw ArchiveDecodingError.corruptCompression(
                        format: format.rawValue, detail: "the data ends before the compressed stream does (truncated)")
                }
            }
            stream.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self) + inputStart
            stream.avail_in = UInt32(inputEnd - inputStart)
            stream.next_out = out.baseAddress
            stream.avail_out = UInt32(clamping: out.count)
            let status = inflate(&stream, Z_NO_FLUSH)
            inputStart = inputEnd - Int(stream.avail_in)
            written = out.count - Int(stream.avail_out)
            switch status {
            case Z_OK, Z_BUF_ERROR:
                break
            case Z_STREAM_END:
                finished = true
            case Z_MEM_ERROR:
                throw ArchiveDecodingError.outOfMemory(context: "inflating \(format.rawValue) data")
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw ArchiveDecodingError.corruptCompression(format: format.rawValue, detail: message)
            }
        }
        produced += written
        if produced > limit { throw ArchiveDecodingError.inflatedSizeExceeded(limit: limit) }
        return written
    }
}
