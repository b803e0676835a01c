/// Reads the top-level fields of a protobuf message from a `ByteSource` one at a time,
/// without holding the whole message. Used where a message can be large (an archive) or
/// where the exact bytes of a field matter (index entries are keyed by their hash).
///
/// ```swift
/// var scanner = ProtobufScanner(source: MemoryByteSource(bytes), maxFieldBytes: 1 << 20)
/// while let field = try scanner.nextField() {
///     switch (field.number, field.wireType) {
///     case (2, .lengthDelimited): let value = try scanner.readBytes()
///     default: try scanner.skip(field.wireType)
///     }
/// }
/// ```
public struct ProtobufScanner<Source: ByteSource> {
    public enum WireType: UInt8, Sendable {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    public struct Field: Sendable {
        public let number: UInt64
        public let wireType: WireType
    }

    private var source: Source
    private var buffer: [UInt8]
    private var position = 0
    private var end = 0
    private var atEnd = false
    private let maxFieldBytes: Int
    /// Bytes consumed so far, for error messages.
    public private(set) var offset = 0

    public init(source: Source, maxFieldBytes: Int, bufferSize: Int = 64 * 1024) {
        self.source = source
        self.maxFieldBytes = maxFieldBytes
        self.buffer = [UInt8](repeating: 0, count: bufferSize)
    }

    /// The next field's tag, or nil at a clean end of the message.
    public mutating func nextField() throws -> Field? {
        guard try ensure(1) else { return nil }
        let key = try readVarint()
        let number = key >> 3
        guard number > 0, let wireType = WireType(rawValue: UInt8(key & 7)) else {
            throw ArchiveDecodingError.malformed(context: "invalid field key \(key) at byte \(offset)")
        }
        return Field(number: number, wireType: wireType)
    }

    public mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard try ensure(1) else { throw ArchiveDecodingError.truncated(context: "varint cut off at byte \(offset)") }
            let byte = buffer[position]
            position += 1
            offset += 1
            if shift == 63 && byte > 1 {
                throw ArchiveDecodingError.malformed(context: "varint longer than 64 bits at byte \(offset)")
            }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Reads a length-delimited field's content, refusing lengths above `maxFieldBytes`.
    public mutating func readBytes() throws -> [UInt8] {
        let length = try readVarint()
        guard length <= UInt64(maxFieldBytes) else {
            throw ArchiveDecodingError.fieldTooLarge(size: length, limit: maxFieldBytes)
        }
        let count = Int(length)
        var out = [UInt8]()
        out.reserveCapacity(count)
        var remaining = count
        while remaining > 0 {
            guard try ensure(1) else {
                throw ArchiveDecodingError.truncated(context: "field of \(count) bytes cut off at byte \(offset)")
            }
            let take = min(remaining, end - position)
            out.append(contentsOf: buffer[position..<(position + take)])
            position += take
            offset += take
            remaining -= take
        }
        return out
    }

    /// Skips a field's value without keeping it.
    public mutating func skip(_ wireType: WireType) throws {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: try discard(8)
        case .fixed32: try discard(4)
        case .lengthDelimited:
            let length = try readVarint()
            guard length <= UInt64(Int.max / 2) else { throw ArchiveDecodingError.malformed(context: "absurd length \(length)") }
            try discard(Int(length))
        case .startGroup, .endGroup:
            throw ArchiveDecodingError.malformed(context: "groups are not used by these schemas (byte \(offset))")
        }
    }

    private mutating func discard(_ count: Int) throws {
        var remaining = count
        while remaining > 0 {
            guard try ensure(1) else { throw ArchiveDecodingError.truncated(context: "skipped field cut off at byte \(offset)") }
            let take = min(remaining, end - position)
            position += take
            offset += take
            remaining -= take
        }
    }

    /// Makes at least `count` (1) unread bytes available; false at the end of the source.
    private mutating func ensure(_ count: Int) throws -> Bool {
        if end - position >= count { return true }
        if atEnd { return false }
        let leftover = end - position
        if leftover > 0 {
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + position, byteCount: leftover)
            }
        }
        position = 0
        end = leftover
        while end < count {
            let got = try buffer.withUnsafeMutableBytes { raw in
                try source.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[end...]))
            }
            if got == 0 {
                atEnd = true
                return end >= count
            }
            end += got
        }
        return true
    }
}
