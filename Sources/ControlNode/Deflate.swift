import CZlib
import StatusWire

/// Compresses archives the way the spec allows ("the control node compresses"): zlib or gzip.
public enum Deflate {
    public static func compress(_ input: [UInt8], format: ArchiveCompression, level: Int32 = 6) throws -> [UInt8] {
        guard format != .none else { return input }
        var stream = z_stream()
        let windowBits: Int32 = format == .gzip ? 15 + 16 : 15
        guard czlib_deflate_init2(&stream, level, windowBits) == Z_OK else { throw DeflateError.initFailed }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 64)
        let status: Int32 = input.withUnsafeBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = UnsafeMutablePointer(mutating: inBuffer.baseAddress)
                stream.avail_in = UInt32(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = UInt32(outBuffer.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw DeflateError.failed(status) }
        return Array(output[0..<Int(stream.total_out)])
    }
}

public enum DeflateError: Error, CustomStringConvertible {
    case initFailed
    case failed(Int32)
    public var description: String {
        switch self {
        case .initFailed: return "deflateInit failed"
        case .failed(let status): return "deflate failed with zlib status \(status)"
        }
    }
}
