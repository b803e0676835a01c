import Foundation
import StatusCrypto

/// Reassembles segmented messages (status-go `message_segmentation.go`). Segments are
/// grouped by (whole-message hash, sender key); once every data segment is present the
/// payload is joined and checked against the hash. Reed-Solomon parity segments are
/// ignored, not used for recovery: status-go's control node archives every segment.
struct SegmentAssembler {
    struct Key: Hashable {
        let hash: [UInt8]
        let sender: [UInt8]
    }

    private struct Group {
        var count: Int
        var segments: [Int: [UInt8]] = [:]
        var earliestTimestamp: UInt64
    }

    enum Outcome {
        case pending
        case complete(payload: [UInt8], timestamp: UInt64)
        case hashMismatch
    }

    private var groups: [Key: Group] = [:]

    /// Whether `segment` is one (status-go `IsValid`: 2+ segments or parity segments), with
    /// the extra checks that rule out other messages decoding as a segment by accident.
    static func isSegment(_ segment: WireSegmentMessage) -> Bool {
        (segment.segmentsCount >= 2 || segment.paritySegmentsCount > 0)
            && segment.entireMessageHash.count == 32
    }

    mutating func add(_ segment: WireSegmentMessage, sender: [UInt8], timestamp: UInt64) -> Outcome {
        // Parity segments (segments_count == 0 in status-go) carry no data we use; an index
        // past the count is not a data segment either.
        guard segment.segmentsCount > 0, segment.index < segment.segmentsCount else { return .pending }
        let key = Key(hash: Array(segment.entireMessageHash), sender: sender)
        var group = groups[key] ?? Group(count: Int(segment.segmentsCount), earliestTimestamp: timestamp)
        group.segments[Int(segment.index)] = Array(segment.payload)
        group.earliestTimestamp = min(group.earliestTimestamp, timestamp)
        guard group.count > 0, (0..<group.count).allSatisfy({ group.segments[$0] != nil }) else {
            groups[key] = group
            return .pending
        }
        groups[key] = nil
        var payload = [UInt8]()
        for index in 0..<group.count { payload += group.segments[index]! }
        guard Keccak256.hash(payload) == key.hash else { return .hashMismatch }
        return .complete(payload: payload, timestamp: group.earliestTimestamp)
    }

    /// Groups still waiting for segments when the archive ends.
    var incompleteCount: Int { groups.count }
}
