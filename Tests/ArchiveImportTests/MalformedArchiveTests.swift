import ControlNode
import GroupKeys
import Foundation
import HistoryStore
import StatusCrypto
import StatusWire
import Testing
@testable import ArchiveImport

/// Bad archives are rejected with a clear error and leave the database exactly as it was.
@Suite(.timeLimit(.minutes(5))) struct MalformedArchiveTests {
    let community = DemoCommunity(seed: 7, memberCount: 2)
    let from: UInt64 = 1_700_000_000

    func entry(cid: CID, from: UInt64? = nil) -> ArchiveIndexEntry {
        let from = from ?? self.from
        return ArchiveIndexEntry(id: ArchiveID(hashing: Array(cid.string.utf8)), cid: cid, from: from,
                                 to: from + 604_800, contentTopics: [community.channels[0].topic])
    }

    func archiveBytes(messages: Int, from: UInt64? = nil) throws -> [UInt8] {
        let from = from ?? self.from
        var writer = try ArchiveWriter(from: from, to: from + 604_800, contentTopics: [community.channels[0].topic])
        let member = community.members[0]
        for i in 0..<messages {
            let amm = try MessageFactory.chatMessage(author: member.key, chatID: community.channels[0].chatID, text: "m\(i)",
                                                     clock: UInt64(i), timestampMillis: (from + UInt64(i)) * 1000)
            try writer.append(MessageFactory.archived(
                payload: try MessageFactory.publicProtocolMessage(amm, installationID: "i"), sender: member.key.publicKey,
                timestamp: from + UInt64(i), topic: community.channels[0].topic, padding: [0], hash: []))
        }
        return writer.bytes()
    }

    /// A database holding one good archive and a local copy in the bad archive's range.
    func populatedDatabase() async throws -> (HistoryDatabase, ArchiveImporter) {
        let database = try TestSupport.temporaryDatabase()
        let importer = ArchiveImporter(database: database, communityID: community.communityID)
        let good = try archiveBytes(messages: 20, from: from - 604_800)
        _ = try await importer.importArchive(entry(cid: (try! CID.codex(of: good)).manifestCID, from: from - 604_800)) { MemoryByteSource(good) }
        try await database.insertLocalMessages([StoredMessage(
            id: "0xlocal", communityID: community.communityID.string, chatID: nil, contentTopic: community.channels[0].topic.string,
            author: "0x02", type: 1, clock: 1, timestamp: Int64(from + 10) * 1000, payload: Data(), text: "live", source: .local)])
        return (database, importer)
    }

    /// Regression (issue 9, defect 2): messages outside the archive's `[from, to)` were stored;
    /// they are rejected and counted.
    @Test func messagesOutsideTheArchiveRangeAreRejected() async throws {
        let database = try TestSupport.temporaryDatabase()
        let importer = ArchiveImporter(database: database, communityID: community.communityID)
        var writer = try ArchiveWriter(from: from, to: from + 604_800, contentTopics: [community.channels[0].topic])
        let member = community.members[0]
        for (i, seconds) in [from + 10, from - 1, from + 604_800, from + 20].enumerated() {
            let amm = try MessageFactory.chatMessage(author: member.key, chatID: community.channels[0].chatID, text: "m\(i)",
                                                     clock: UInt64(i), timestampMillis: seconds * 1000)
            try writer.append(MessageFactory.archived(
                payload: try MessageFactory.publicProtocolMessage(amm, installationID: "i"), sender: member.key.publicKey,
                timestamp: seconds, topic: community.channels[0].topic, padding: [0], hash: []))
        }
        let bytes = writer.bytes()
        let result = try await importer.importArchive(entry(cid: try CID.codex(of: bytes).manifestCID)) { MemoryByteSource(bytes) }
        #expect(result.counts.stored == 2)
        #expect(result.rejected == [.outsideArchiveRange: 2])
        #expect(try database.messages(communityID: community.communityID.string).map(\.text) == ["m0", "m3"])
    }

    static let corruptions: [(String, @Sendable ([UInt8]) throws -> [UInt8])] = [
        ("truncated protobuf", { Array($0.dropLast(7)) }),
        ("truncated zlib", { bytes in Array(try Deflate.compress(bytes, format: .zlib).dropLast(20)) }),
        ("bad zlib", { bytes in var z = try Deflate.compress(bytes, format: .zlib); for i in 2..<30 { z[i] ^= 0xa5 }; return z }),
        ("oversized field", { $0 + [0x1a, 0xff, 0xff, 0xff, 0xff, 0x07] }),
        ("encrypted", { _ in try MessageFactory.hashRatchetProtocolMessage(groupID: [1], keyID: [2], ciphertext: [UInt8](repeating: 3, count: 500)) }),
        ("not protobuf", { _ in Array("<html>404 not found</html>".utf8) }),
        ("empty", { _ in [] }),
    ]

    @Test(arguments: corruptions.map(\.0))
    func corruptArchiveLeavesTheDatabaseUnchanged(name: String) async throws {
        let corrupt = try Self.corruptions.first { $0.0 == name }!.1(try archiveBytes(messages: 30))
        let (database, importer) = try await populatedDatabase()
        let before = try database.messageDigest()
        let archive = entry(cid: try CID.codex(of: Array(name.utf8)).manifestCID)  // a label: the bytes may be empty
        // Bytes that are what the CID names (the re-check says so): rejected when they do not
        // decode, over the limit for a field too large, waiting for a key when encrypted.
        await #expect {
            _ = try await importer.importArchive(archive, recheck: { .matches }) { MemoryByteSource(corrupt) }
        } throws: { error in
            switch error as? ArchiveImportFailure {
            case .rejected?: return name != "oversized field" && name != "encrypted"
            case .overLimit?: return name == "oversized field"
            case .waitingForKey?: return name == "encrypted"
            default: return false
            }
        }
        #expect(try database.messageDigest() == before)
        #expect(try !database.isImported(archiveID: archive.id.string))
    }

    @Test func errorsSayWhatHappened() async throws {
        let (_, importer) = try await populatedDatabase()
        let encrypted = try MessageFactory.hashRatchetProtocolMessage(groupID: [1], keyID: [2], ciphertext: [3])
        // An encrypted community's archive, without its key: waiting for that key, not malformed.
        await #expect(throws: ArchiveImportFailure.waitingForKey(HashRatchetKeyReference(groupID: [1], keyID: [2]))) {
            _ = try await importer.importArchive(entry(cid: (try! CID.codex(of: encrypted)).manifestCID)) { MemoryByteSource(encrypted) }
        }
        let bytes = try archiveBytes(messages: 3)
        await #expect {
            _ = try await importer.importArchive(entry(cid: (try! CID.codex(of: bytes)).manifestCID, from: from + 1)) { MemoryByteSource(bytes) }
        } throws: { error in
            guard case .rejected(.metadataMismatch, let detail)? = error as? ArchiveImportFailure else { return false }
            return detail.contains("does not match its index entry")
        }
    }

    @Test func bombIsRejectedWithinTheLimitAndNothingIsStored() async throws {
        let (database, importer) = try await populatedDatabase()
        let before = try database.messageDigest()
        // Valid archive whose entries are 1 MiB of zeros each: tiny compressed, huge inflated.
        var writer = try ArchiveWriter(from: from, to: from + 604_800, contentTopics: [community.channels[0].topic])
        var big = MessageFactory.archived(payload: [UInt8](repeating: 0, count: 1 << 20), sender: community.members[0].key.publicKey,
                                          timestamp: from, topic: community.channels[0].topic, padding: [], hash: [])
        big.payload = Data(count: 1 << 20)
        for _ in 0..<40 { try writer.append(big) }
        let bomb = try Deflate.compress(writer.bytes(), format: .gzip, level: 9)
        let options = ArchiveImportOptions(limits: DecodingLimits(maxInflatedBytes: 8 << 20, maxMessageBytes: 2 << 20))
        await #expect(throws: ArchiveImportFailure.overLimit(detail: ArchiveDecodingError.inflatedSizeExceeded(limit: 8 << 20).description)) {
            _ = try await importer.importArchive(entry(cid: (try! CID.codex(of: bomb)).manifestCID), options: options) { MemoryByteSource(bomb) }
        }
        #expect(try database.messageDigest() == before)
    }

}

/// Issue 12, "Decrypt": an archive's hash-ratchet encrypted messages are imported when the
/// member holds their group key, with both verification paths (one worker, several).
@Suite(.timeLimit(.minutes(5))) struct EncryptedMessageImportTests {
    let community = DemoCommunity(seed: 7, memberCount: 2)
    let from: UInt64 = 1_700_000_000
    let groupKey = [UInt8](repeating: 0x42, count: 32)

    @Test(arguments: [1, 2]) func encryptedMessagesAreStoredWithTheKeyAndCountedWithoutIt(workers: Int) async throws {
        let channel = community.channels[0], member = community.members[0]
        var writer = try ArchiveWriter(from: from, to: from + 604_800, contentTopics: [channel.topic])
        for i in 0..<300 {
            let amm = try MessageFactory.chatMessage(author: member.key, chatID: channel.chatID, text: "secret \(i)",
                                                     clock: UInt64(i), timestampMillis: (from + UInt64(i)) * 1000)
            let payload = try MessageFactory.hashRatchetMessage(amm, groupID: community.communityID.publicKey.compressed, groupKey: groupKey,
                                                                timestampMillis: 1_699_000_000_000, sequenceNumber: UInt32(i * 8 + 1))
            try writer.append(MessageFactory.archived(payload: payload, sender: member.key.publicKey, timestamp: from + UInt64(i),
                                                      topic: channel.topic, padding: [0], hash: []))
        }
        let bytes = writer.bytes()
        let entry = ArchiveIndexEntry(id: ArchiveID(hashing: Array("encrypted".utf8)), cid: try CID.codex(of: bytes).manifestCID,
                                      from: from, to: from + 604_800, contentTopics: [channel.topic])

        let without = try TestSupport.temporaryDatabase()
        let unread = try await ArchiveImporter(database: without, communityID: community.communityID)
            .importArchive(entry, options: ArchiveImportOptions(verificationWorkers: workers)) { MemoryByteSource(bytes) }
        #expect(unread.counts.stored == 0 && unread.rejected == [.encryptedKeyUnavailable: 300])

        let with = try TestSupport.temporaryDatabase()
        let keys = GroupKeyRing([GroupKey(groupID: community.communityID.publicKey.compressed, timestampMillis: 1_699_000_000_000, key: groupKey)])
        let read = try await ArchiveImporter(database: with, communityID: community.communityID)
            .importArchive(entry, options: ArchiveImportOptions(verificationWorkers: workers, keys: keys)) { MemoryByteSource(bytes) }
        #expect(read.counts.stored == 300 && read.rejected.isEmpty)
        #expect(try with.messages(communityID: community.communityID.string).map(\.text).contains("secret 299"))
    }
}
