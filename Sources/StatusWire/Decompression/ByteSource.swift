import Foundation

/// A pull-based stream of bytes: the archive decoder reads through one of these so that
/// an archive never has to be in memory as a whole.
public protocol ByteSource {
    /// Fills up to `buffer.count` bytes; returns how many, 0 at the end of the stream.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Bytes already in memory (an index, a test vector, a small archive).
public struct MemoryByteSource: ByteSource {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, bytes.count - offset)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
        }
        offset += count
        return count
    }
}

/// A file read sequentially with `fread`.
public final class FileByteSource: ByteSource {
    private let file: UnsafeMutablePointer<FILE>
    public let path: String

    public init(path: String) throws {
        guard let file = fopen(path, "rb") else {
            let code = errno
            throw ArchiveDecodingError.unreadableFile(path: path, reason: String(cString: strerror(code)), errno: code)
        }
        self.file = file
        self.path = path
    }

    deinit { fclose(file) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = fread(buffer.baseAddress, 1, buffer.count, file)
        if count == 0, ferror(file) != 0 {
            let code = errno
            throw ArchiveDecodingError.unreadableFile(path: path, reason: "read error: \(String(cString: strerror(code)))", errno: code)
        }
        return count
    }
}
