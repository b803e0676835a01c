import SwiftProtobuf

/// Decodes a `WakuMessageArchive` one archived message at a time: memory stays bounded by
/// one message however large the archive is.
///
/// ```swift
/// let (source, _) = try ArchiveInput.open(path: path)
/// var reader = ArchiveReader(source: source)
/// while let element = try reader.next() {
///     switch element {
///     case .metadata(let metadata): …
///     case .message(let message): …
///     }
/// }
/// ```
public struct ArchiveReader {
    public enum Element {
        case metadata(WireWakuMessageArchiveMetadata)
        case message(WireArchivedWakuMessage)
    }

    private var scanner: ProtobufScanner<AnyByteSource>
    /// Messages read so far (for error context).
    public private(set) var messagesRead = 0

    public init(source: any ByteSource, limits: DecodingLimits = .default) {
        scanner = ProtobufScanner(source: AnyByteSource(source), maxFieldBytes: limits.maxMessageBytes)
    }

    public mutating func next() throws -> Element? {
        while let field = try scanner.nextField() {
            switch (field.number, field.wireType) {
            case (2, .lengthDelimited):
                let bytes = try scanner.readBytes()
                do {
                    return .metadata(try WireWakuMessageArchiveMetadata(serializedBytes: bytes))
                } catch {
                    throw ArchiveDecodingError.malformed(context: "the archive metadata does not decode: \(error)")
                }
            case (3, .lengthDelimited):
                let bytes = try scanner.readBytes()
                messagesRead += 1
                do {
                    return .message(try WireArchivedWakuMessage(serializedBytes: bytes))
                } catch {
                    throw ArchiveDecodingError.malformed(context: "archived message #\(messagesRead) does not decode: \(error)")
                }
            case (101, _):
                throw ArchiveDecodingError.encrypted(what: "archive")
            case (1, .varint):
                _ = try scanner.readVarint()
            default:
                throw ArchiveDecodingError.malformed(
                    context: "unexpected field \(field.number) (wire type \(field.wireType.rawValue)) at byte \(scanner.offset): not a WakuMessageArchive")
            }
        }
        return nil
    }
}

extension ArchiveReader {
    /// Whether the bytes are a hash-ratchet `ProtocolMessage` (top-level field 101) rather
    /// than an archive. Called after a decoding failure to give the precise reason: an
    /// encrypted archive's fields 2 and 3 can look like a broken archive's.
    public static func isHashRatchetEncrypted(source: any ByteSource, limits: DecodingLimits = .default) -> Bool {
        var scanner = ProtobufScanner(source: AnyByteSource(source), maxFieldBytes: limits.maxMessageBytes)
        do {
            while let field = try scanner.nextField() {
                if field.number == 101 { return true }
                try scanner.skip(field.wireType)
            }
        } catch {}
        return false
    }
}

/// Type-erases a `ByteSource` so generic code can hold whichever one `ArchiveInput` chose.
public struct AnyByteSource: ByteSource {
    private var base: any ByteSource
    public init(_ base: any ByteSource) { self.base = base }
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try base.read(into: buffer)
    }
}
