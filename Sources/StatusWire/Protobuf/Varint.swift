/// Protobuf / multiformats unsigned varints (7 bits per byte, low group first).
public enum Varint {
    public static func encode(_ value: UInt64, into out: inout [UInt8]) {
        var value = value
        repeat {
            var byte = UInt8(value & 0x7f)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
    }

    public static func encode(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        encode(value, into: &out)
        return out
    }

    /// Reads the varint at `offset` (from the start of `bytes`) and moves `offset` past it;
    /// nil when it is cut off or runs past 64 bits.
    static func decode<Bytes: RandomAccessCollection>(_ bytes: Bytes, at offset: inout Int) -> UInt64?
    where Bytes.Element == UInt8, Bytes.Index == Int {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count, shift < 64 {
            let byte = bytes[bytes.startIndex + offset]
            offset += 1
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }
}
