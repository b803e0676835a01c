/// Appends protobuf fields by hand where the generated code cannot be used: streaming an
/// archive entry by entry, and writing an index whose map order must be deterministic.
public enum ProtobufFieldWriter {
    public static func varint(_ value: UInt64, into out: inout [UInt8]) {
        var value = value
        repeat {
            var byte = UInt8(value & 0x7f)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
    }

    public static func lengthDelimited(field: UInt64, _ bytes: [UInt8], into out: inout [UInt8]) {
        varint(field << 3 | 2, into: &out)
        varint(UInt64(bytes.count), into: &out)
        out += bytes
    }
}
