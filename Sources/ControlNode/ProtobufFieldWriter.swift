import StatusWire

/// Appends protobuf fields by hand where the generated code cannot be used: streaming an
/// archive entry by entry, and writing an index whose map order must be deterministic.
public enum ProtobufFieldWriter {
    public static func lengthDelimited(field: UInt64, _ bytes: [UInt8], into out: inout [UInt8]) {
        Varint.encode(field << 3 | 2, into: &out)
        Varint.encode(UInt64(bytes.count), into: &out)
        out += bytes
    }
}
