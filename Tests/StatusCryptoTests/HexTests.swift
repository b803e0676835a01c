import StatusCrypto
import Testing

/// Hex is what every ID, author and topic is stored as: lowercase, `0x` when asked, and back.
@Suite struct HexTests {
    @Test func everyByteEncodesAndDecodesBack() throws {
        let all = (0...255).map { UInt8($0) }
        let text = Hex.encode(all)
        #expect(text.count == 512 && text.hasPrefix("000102") && text.hasSuffix("fdfeff") && text == text.lowercased())
        #expect(try Hex.decode(text) == all)
        #expect(Hex.encode(all, prefixed: true) == "0x" + text)
        #expect(try Hex.decode("0X" + text.uppercased()) == all)
    }

    @Test func emptyAndNonContiguousInput() {
        #expect(Hex.encode([UInt8]()) == "" && Hex.encode([UInt8](), prefixed: true) == "0x")
        // A sequence without contiguous storage takes the other path, with the same result.
        #expect(Hex.encode([0xab, 0x01, 0xff].lazy.map { $0 }, prefixed: true) == "0xab01ff")
        #expect(Hex.encode(stride(from: UInt8(0x0e), through: 0x10, by: 1)) == "0e0f10")
    }
}
