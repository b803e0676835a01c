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

    @Test func mismatchingKeyIsRejectedAndTheRestUsed() throws {
        var builder = IndexBuilder()
        let good = try builder.add(metadata: metadata(1_700_000_000), cid: (try! CID.codex(of: [1])).manifestCID)
        let second = try builder.add(metadata: metadata(1_700_604_800), cid: (try! CID.codex(of: [2])).manifestCID)
        try builder.addMismatchedKey("0x" + String(repeating: "ab", count: 32), metadata: metadata(1_701_209_600), cid: (try! CID.codex(of: [3])).manifestCID)
        let index = try ArchiveIndex(bytes: builder.bytes())
        #expect(index.entries.map(\.id.string) == [good, second])
        #expect(index.entries.first?.contentTopics == [topic])
        #expect(index.rejected.count == 1)
        #expect(index.rejected.first?.reason.contains("key does not match") == true)
    }

    /// Issue 27: an index of 100,000 entries whose CIDs were not on the network took days to
    /// plan. Past the limit the oldest entries are refused with a reason; the newest are kept.
    @Test func entriesPastTheLimitAreRefusedOldestFirst() throws {
        var builder = IndexBuilder()
        var ids: [String] = []
        for week in 0..<5 {
            ids.append(try builder.add(metadata: metadata(1_700_000_000 + UInt64(week) * 604_800), cid: (try! CID.codex(of: [UInt8(week)])).manifestCID))
        }
        let limits = DecodingLimits(maxInflatedBytes: 1 << 20, maxMessageBytes: 1 << 20, maxIndexEntries: 3)
        let index = try ArchiveIndex(bytes: builder.bytes(), limits: limits)
        #expect(index.entries.map(\.id.string) == Array(ids.suffix(3)))
        #expect(Set(index.rejected.map(\.key)) == Set(ids.prefix(2)))
        #expect(index.rejected.allSatisfy { $0.reason.contains("over the limit of 3") })
        #expect(DecodingLimits.default.maxIndexEntries == 10_000)
    }

    @Test func encryptedIndexWithoutItsKeyWaitsForIt() throws {
        let encrypted = try MessageFactory.hashRatchetProtocolMessage(groupID: [1], keyID: [2], ciphertext: [UInt8](repeating: 3, count: 64))
        #expect(throws: ArchiveDecodingError.waitingForKey(what: "archive index", key: HashRatchetKeyReference(groupID: [1], keyID: [2]))) {
            try ArchiveIndex(bytes: encrypted)
        }
    }

    @Test func truncatedIndexIsAClearError() throws {
        var builder = IndexBuilder()
        try builder.add(metadata: metadata(1_700_000_000), cid: (try! CID.codex(of: [1])).manifestCID)
        let bytes = builder.bytes()
        #expect(throws: ArchiveDecodingError.self) { try ArchiveIndex(bytes: Array(bytes.dropLast(5))) }
    }

    @Test func emptyIndexIsEmpty() throws {
        #expect(try ArchiveIndex(bytes: []).entries.isEmpty)
    }

    /// Regression: an index entry naming a block or tree CID reached the download step and
    /// failed there as a 404; it is rejected when the index is parsed.
    @Test func anEntryWhoseCIDIsNotAManifestIsRejectedAtParse() throws {
        var builder = IndexBuilder()
        let address = try CID.codex(of: [1, 2, 3])
        try builder.add(metadata: metadata(1_700_000_000), cid: address.manifestCID)
        try builder.add(metadata: metadata(1_700_604_800), cid: address.treeCID)
        let index = try ArchiveIndex(bytes: builder.bytes())
        #expect(index.entries.map(\.cid) == [address.manifestCID])
        #expect(index.rejected.count == 1)
        #expect(index.rejected.first?.reason.contains("not a Codex manifest CID") == true)
    }

    /// The link payload `{1: clock, 2: link}` is accepted with fields a newer status-go may add.
    @Test func anArchiveLinkWithAnExtraFieldIsAccepted() throws {
        let community = DemoCommunity(seed: 4, memberCount: 1)
        let cid = try CID.codex(of: [7]).manifestCID
        var payload: [UInt8] = [0x08]
        Varint.encode(1_700_000_000_000, into: &payload)
        payload += [0x12, UInt8(cid.string.utf8.count)] + Array(cid.string.utf8)
        payload += [0x18, 0x01]  // field 3, varint
        let amm = try MessageFactory.applicationMessage(type: 77, payload: payload, signer: community.communityKey)
        guard case .announcement(let announcement) = ArchiveChannel.decodeApplicationLayer(amm, contentTopic: "t") else {
            Issue.record("not accepted")
            return
        }
        #expect(announcement.indexCID == cid && announcement.clock == 1_700_000_000_000 && announcement.messageType == 77)
        #expect(announcement.signerID == community.communityID)
    }

    /// A link naming a tree (or block) CID cannot be fetched as an index: rejected as invalid.
    @Test func anArchiveLinkToATreeCIDIsRejected() throws {
        let community = DemoCommunity(seed: 4, memberCount: 1)
        let tree = try CID.codex(of: [7]).treeCID
        let amm = try MessageFactory.archiveLink(clock: 5, link: tree.string, communityKey: community.communityKey)
        guard case .rejected(.invalidCID) = ArchiveChannel.decodeApplicationLayer(amm, contentTopic: "t") else {
            Issue.record("not rejected as invalid-cid")
            return
        }
    }
}
