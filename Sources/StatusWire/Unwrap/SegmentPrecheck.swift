import Foundation

extension SegmentAssembler {
    /// Whether `payload` can be a segment (`isSegment` of its `SegmentMessage` decode), read in
    /// place without decoding it. Every archived payload is asked this on the one thread that
    /// reads the archive, and almost none is a segment: a full decode of an ordinary message as a
    /// `SegmentMessage` copied its whole payload into unknown fields first.
    ///
    /// The answer is false only when the payload's fields parse cleanly and say it is not a
    /// segment (entire_message_hash not 32 bytes, or fewer than 2 segments and no parity
    /// segments; the last occurrence of a field counts, as in a protobuf decode). Anything
    /// unusual (a cut-off field, a group) answers true and the full decode decides, so this never
    /// turns a segment away.
    static func mightBeSegment(_ payload: Data) -> Bool {
        payload.withUnsafeBytes { raw in
            mightBeSegment(raw.bindMemory(to: UInt8.self))
        }
    }

    static func mightBeSegment(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var position = 0
        func varint() -> UInt64? { Varint.decode(bytes, at: &position) }
        var hashLength = 0
        var segmentsCount: UInt32 = 0
        var paritySegmentsCount: UInt32 = 0
        while position < bytes.count {
            guard let key = varint(), key >> 3 != 0 else { return true }
            let number = key >> 3
            // SegmentMessage's fields: 1 entire_message_hash (bytes), 2 index, 3 segments_count,
            // 4 payload (bytes), 5 parity_segment_index, 6 parity_segments_count (uint32). A field
            // whose wire type is not the declared one is skipped as unknown, as SwiftProtobuf
            // does (an ordinary message's field 2 is a string, the installation ID).
            switch key & 7 {
            case 0:
                guard let value = varint() else { return true }
                if number == 3 { segmentsCount = UInt32(truncatingIfNeeded: value) }
                if number == 6 { paritySegmentsCount = UInt32(truncatingIfNeeded: value) }
            case 2:
                guard let length = varint(), length <= UInt64(bytes.count - position) else { return true }
                if number == 1 { hashLength = Int(length) }
                position += Int(length)
            case 1:
                guard bytes.count - position >= 8 else { return true }
                position += 8
            case 5:
                guard bytes.count - position >= 4 else { return true }
                position += 4
            default:
                return true  // groups, invalid wire types: the decoder decides
            }
        }
        return hashLength == 32 && (segmentsCount >= 2 || paritySegmentsCount > 0)
    }
}
