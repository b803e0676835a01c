import ControlNode
import Foundation
import StatusCrypto
import SwiftProtobuf
import Testing
@testable import StatusWire

/// `mightBeSegment` skips the full `SegmentMessage` decode of ordinary payloads (issue 10); it
/// must never turn a segment away, whatever the bytes.
@Suite struct SegmentPrecheckTests {
    /// What the unwrapper did before: a full decode, then status-go's validity check.
    func decodesAsSegment(_ payload: Data) -> Bool {
        guard let segment = try? WireSegmentMessage(serializedBytes: payload) else { return false }
        return SegmentAssembler.isSegment(segment)
    }

    @Test func ordinaryMessagesAreNotDecodedAndSegmentsAre() throws {
        let community = DemoCommunity(seed: 3, memberCount: 2)
        let member = community.members[0]
        let amm = try MessageFactory.chatMessage(author: member.key, chatID: community.channels[0].chatID, text: "hello",
                                                 clock: 1, timestampMillis: 1000)
        let payload = try MessageFactory.publicProtocolMessage(amm, installationID: member.installationID)
        #expect(!SegmentAssembler.mightBeSegment(Data(payload)))
        #expect(!decodesAsSegment(Data(payload)))
        for segment in try MessageFactory.segments(of: payload, count: 3) {
            #expect(SegmentAssembler.mightBeSegment(Data(segment)))
            #expect(decodesAsSegment(Data(segment)))
        }
    }

    @Test func neverSaysNoToWhatDecodesAsASegment() throws {
        var generator = SystemRandomNumberGenerator()
        var segmentsSeen = 0, skipped = 0
        func check(_ payload: Data) {
            let decodes = decodesAsSegment(payload)
            let might = SegmentAssembler.mightBeSegment(payload)
            #expect(might || !decodes, "a segment turned away: \(payload.map { String(format: "%02x", $0) }.joined())")
            if decodes { segmentsSeen += 1 }
            if !might { skipped += 1 }
        }
        for _ in 0..<20_000 {
            // Segment-shaped messages with random values, some fields repeated or mistyped, and
            // random bytes around them.
            var segment = WireSegmentMessage()
            segment.entireMessageHash = Data((0..<[31, 32, 32, 33][Int.random(in: 0..<4, using: &generator)]).map { _ in UInt8.random(in: 0...255, using: &generator) })
            segment.index = UInt32.random(in: 0...3, using: &generator)
            segment.segmentsCount = UInt32.random(in: 0...3, using: &generator)
            segment.paritySegmentsCount = [0, 0, 1][Int.random(in: 0..<3, using: &generator)]
            segment.payload = Data((0..<Int.random(in: 0..<40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            var bytes = try segment.serializedBytes() as [UInt8]
            switch Int.random(in: 0..<5, using: &generator) {
            case 0: bytes += [0x18, UInt8.random(in: 0...3, using: &generator)]        // segments_count again
            case 1: bytes += [0x0a, 0x01, 0x00]                                          // a 1-byte hash last
            case 2: bytes.insert(contentsOf: [0x1a, 0x00], at: 0)                        // field 3, wrong wire type
            case 3: bytes += (0..<Int.random(in: 1..<6, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            default: break
            }
            check(Data(bytes))
            check(Data((0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        }
        // The generator made both kinds: the check was exercised, and it skips something.
        #expect(segmentsSeen > 1_000 && skipped > 1_000, "\(segmentsSeen) segments, \(skipped) skipped")
    }
}
