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
}
