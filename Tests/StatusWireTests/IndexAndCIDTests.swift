import ControlNode
import Foundation
import StatusCrypto
import Testing
@testable import StatusWire

@Suite struct IndexAndCIDTests {
    let topic = ContentTopic(chatID: "chat")

    func metadata(_ from: UInt64) -> WireWakuMessageArchiveMetadata {
        var metadata = WireWakuMessageArchiveMetadata()
        metadata.from = from
        metadata.to = from + 604_800
        metadata.contentTopic = [Data(topic.bytes)]
        return metadata
    }

    @Test func parsesTheReferenceCID() throws {
        let cid = try CID("zDvZRwzm8K7bcyPeBXcZzWD7AWc4VqNuseduDr3VsuYA1yXej49V")
        #expect(cid.codec == CID.codexManifestCodec)
        #expect(cid.digest.count == 32)
    }

    @Test(arguments: ["", "zz", "../../etc/passwd", "z../x", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
                      "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", "zDvZRwzm8K7bcyPeBXcZzWD7AWc4VqNuseduDr3VsuYA1yXej49", "z1/x?y"])
    func rejectsWhatIsNotACodexCID(text: String) {
        #expect(throws: CIDError.self) { try CID(text) }
    }

    @Test func contentAddressesRoundTrip() throws {
        let cid = CID.contentAddress(of: Array("hello".utf8))
        #expect(cid.string.hasPrefix("zDvZ"))
        #expect(try CID(cid.string) == cid)
        #expect(cid.addresses(Array("hello".utf8)))
        #expect(!cid.addresses(Array("hellp".utf8)))
    }

    @Test func mismatchingKeyIsRejectedAndTheRestUsed() throws {
        var builder = IndexBuilder()
        let good = try builder.add(metadata: metadata(1_700_000_000), cid: CID.contentAddress(of: [1]))
        let second = try builder.add(metadata: metadata(1_700_604_800), cid: CID.contentAddress(of: [2]))
        try builder.addMismatchedKey("0x" + String(repeating: "ab", count: 32), metadata: metadata(1_701_209_600), cid: CID.contentAddress(of: [3]))
        let index = try ArchiveIndex(bytes: builder.bytes())
        #expect(index.entries.map(\.id) == [good, second])
        #expect(index.entries.first?.contentTopics == [topic])
        #expect(index.rejected.count == 1)
        #expect(index.rejected.first?.reason.contains("key does not match") == true)
    }

    @Test func encryptedIndexIsAClearError() throws {
        let encrypted = try MessageFactory.hashRatchetProtocolMessage(groupID: [1], keyID: [2], ciphertext: [UInt8](repeating: 3, count: 64))
        #expect(throws: ArchiveDecodingError.encrypted(what: "archive index")) { try ArchiveIndex(bytes: encrypted) }
    }

    @Test func truncatedIndexIsAClearError() throws {
        var builder = IndexBuilder()
        try builder.add(metadata: metadata(1_700_000_000), cid: CID.contentAddress(of: [1]))
        let bytes = builder.bytes()
        #expect(throws: ArchiveDecodingError.self) { try ArchiveIndex(bytes: Array(bytes.dropLast(5))) }
    }

    @Test func emptyIndexIsEmpty() throws {
        #expect(try ArchiveIndex(bytes: []).entries.isEmpty)
    }
}
