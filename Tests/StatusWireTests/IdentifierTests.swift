import Foundation
import StatusCrypto
import StatusWire
import Testing

/// Community and archive IDs are parsed once, into one spelling: two spellings of one key or
/// hash are one community or archive, and text that is neither never gets further.
@Suite struct IdentifierTests {
    static let key = try! PrivateKey(bytes: [UInt8](repeating: 0, count: 31) + [7]).publicKey

    @Test func aCommunityIDIsNormalisedToLowercase() throws {
        let canonical = CommunityID(publicKey: Self.key)
        let shouted = try CommunityID("0X" + canonical.string.dropFirst(2).uppercased())
        #expect(shouted == canonical && shouted.string == canonical.string)
        #expect(canonical.string.hasPrefix("0x0") && canonical.string.count == 68)
        #expect(Set([shouted, canonical]).count == 1)
    }

    @Test func textThatIsNotACommunityKeyIsAClearError() {
        for text in ["0x1234", "", "0x" + String(repeating: "00", count: 33), "not hex",
                     "0x" + String(repeating: "ab", count: 65)] {
            #expect(throws: CommunityIDError.invalid(text)) { try CommunityID(text) }
        }
        #expect("\(CommunityIDError.invalid("0x12"))".contains("not a community ID"))
    }

    @Test func aCommunityIDDecodesOnlyFromAValidKey() throws {
        let id = CommunityID(publicKey: Self.key)
        let json = try JSONEncoder().encode([id])
        #expect(String(decoding: json, as: UTF8.self) == "[\"\(id.string)\"]")
        #expect(try JSONDecoder().decode([CommunityID].self, from: json) == [id])
        #expect(throws: CommunityIDError.self) { try JSONDecoder().decode([CommunityID].self, from: Data("[\"0x02\"]".utf8)) }
    }

    @Test func anArchiveIDIsTheKeccakOfItsEntryInLowercase() throws {
        let id = ArchiveID(hashing: Array("entry".utf8))
        #expect(id.string == Hex.encode(Keccak256.hash(Array("entry".utf8)), prefixed: true))
        #expect(try ArchiveID(id.string.uppercased().replacingOccurrences(of: "0X", with: "0x")) == id)
        for text in ["0xweek", "0x1234", String(repeating: "ab", count: 32), ""] {
            #expect(throws: ArchiveIDError.invalid(text)) { try ArchiveID(text) }
        }
    }
}
