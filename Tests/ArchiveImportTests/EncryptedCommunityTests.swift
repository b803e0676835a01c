import ControlNode
import Fixtures
import Foundation
import GroupKeys
import HistoryStore
import StatusCrypto
import StatusWire
import Testing
@testable import ArchiveImport

/// An encrypted community (issue 12): its index and archives are hash-ratchet messages as a
/// whole, some channel messages inside are encrypted too, and its key is rotated mid-history.
/// The work runs off the test runner's threads and one test at a time: it is CPU-heavy on a
/// debug build, and blocking the runner's threads starved the time-limited tests beside it.
@Suite(.serialized, .timeLimit(.minutes(5))) struct EncryptedCommunityTests {
    struct Community: Sendable {
        let directory: URL
        let summary: EncryptedFixtureGenerator.Summary
        let keys: [GroupKey]
        var fixture: FixtureDirectory { try! FixtureDirectory(url: directory) }
    }

    /// Generated once for the suite (the tests only read it).
    private static let generated = Result<Community, any Error> {
        let directory = try TestSupport.temporaryDirectory("encrypted")
        let summary = try EncryptedFixtureGenerator().write(to: directory)
        let keys = try GroupKeyStore.parseImport(try Data(contentsOf: directory.appendingPathComponent(EncryptedFixtureGenerator.keysFile)))
        return Community(directory: directory, summary: summary, keys: keys)
    }

    static func community() async throws -> Community {
        try await TestSupport.offPool { try generated.get() }
    }

    static func replay(_ community: Community, into database: HistoryDatabase, keys: [GroupKey]) async throws -> ReplayReport {
        try await Replay(fixture: community.fixture, database: database, options: ArchiveImportOptions(keys: GroupKeyRing(keys))).run()
    }

    @Test func withItsKeysTheCommunityReplaysWithExactlyItsMessages() async throws {
        let community = try await Self.community()
        #expect(community.keys.map { Hex.encode($0.keyID, prefixed: true) } == community.summary.keyIDs)
        let database = try TestSupport.temporaryDatabase()
        let report = try await Self.replay(community, into: database, keys: community.keys)
        #expect(report.archives.imported == community.summary.archiveKeys.count)
        #expect(report.archives.rejected.isEmpty && report.archives.waitingForKey.isEmpty)
        #expect(report.messages.stored == community.summary.validMessages && report.messages.rejected.isEmpty)
        #expect(community.summary.encryptedMessages > 0)
        // Messages of both keys' weeks, the encrypted ones among them (every fifth), are readable.
        var texts: Set<String> = []
        try database.forEachMessage(communityID: community.summary.communityID) { message in
            if let text = message.text { texts.insert(text) }
            return true
        }
        for text in ["encrypted w0 #0", "encrypted w0 #1", "encrypted w3 #5", "encrypted w3 #6"] { #expect(texts.contains(text), "\(text)") }
        #expect(try await database.keyWaits().isEmpty)
    }

    @Test func withoutTheNewestKeyTheIndexWaitsAndNothingIsStored() async throws {
        let community = try await Self.community()
        let database = try TestSupport.temporaryDatabase()
        await #expect {
            try await Self.replay(community, into: database, keys: [community.keys[0]])
        } throws: { error in
            guard case .waitingForKey(let what, let key)? = error as? ArchiveDecodingError else { return false }
            return what == "archive index" && key.keyID == community.summary.keyIDs[1] && key.groupID == community.summary.communityID
        }
        #expect(try database.messageCount(communityID: community.summary.communityID) == 0)
    }

    /// The member holds the newest key only: the index and the newer archives open; the older
    /// archives wait for the older key, recorded as such, and are imported once it comes.
    @Test func archivesOfAnOlderKeyWaitForItThenImport() async throws {
        let community = try await Self.community()
        let database = try TestSupport.temporaryDatabase()
        let newest = try await Self.replay(community, into: database, keys: [community.keys[1]])
        let older = community.summary.archiveKeys.filter { $0.value == community.summary.keyIDs[0] }.keys.sorted()
        #expect(newest.archives.waitingForKey.map(\.id) == older)
        #expect(newest.archives.waitingForKey.allSatisfy { $0.keyID == community.summary.keyIDs[0] })
        #expect(newest.archives.imported == community.summary.archiveKeys.count - older.count)
        // Reported, not recorded as key waits: those stand for a sync's kept downloads. The newer
        // weeks' #dev messages, encrypted with the channel's key, are held for it.
        let waits = try await database.keyWaits()
        #expect(waits.allSatisfy { $0.kind == .messages && $0.keyID == community.summary.keyIDs[2] })
        #expect(waits.compactMap(\.messageCount).reduce(0, +) == community.summary.channelKeyMessages / 2)
        #expect(try await database.weekCoverage(communityID: community.summary.communityID, decoderRevision: ArchiveImporter.decoderRevision)
                    .map(\.state.symbol) == [".", ".", "#", "#"])

        let all = try await Self.replay(community, into: database, keys: community.keys)
        #expect(all.archives.imported == older.count && all.archives.waitingForKey.isEmpty)
        #expect(try database.messageCount(communityID: community.summary.communityID) == community.summary.validMessages)
        #expect(try await database.keyWaits().isEmpty)
    }

    /// A key that is held but does not open the archive (here: a keyring answering a wrong message
    /// key) is a clear, counted rejection, and nothing of the archive is stored.
    @Test func aWrongKeyIsReportedAndStoresNothing() async throws {
        struct WrongKeys: HashRatchetKeyring {
            func messageKey(keyID: [UInt8], sequenceNumber: UInt32) -> HashRatchetKeyLookup { .key([UInt8](repeating: 7, count: 32)) }
        }
        let community = try await Self.community()
        let database = try TestSupport.temporaryDatabase()
        // The index opens with the real keys; every archive then meets the wrong key.
        let (_, index) = try community.fixture.readIndex(keys: GroupKeyRing(community.keys))
        let importer = ArchiveImporter(database: database, communityID: community.fixture.manifest.communityID)
        let entry = try #require(index.entries.first)
        await #expect {
            _ = try await importer.importArchive(entry, path: try community.fixture.verifiedBlobPath(entry.cid), options: ArchiveImportOptions(keys: WrongKeys()))
        } throws: { error in
            // The file is what its CID names: the key held does not open it, for good.
            guard case .rejected(.decryptionFailed, let detail)? = error as? ArchiveImportFailure else { return false }
            return detail.hasPrefix("the archive is encrypted with a key this member holds")
        }
        #expect(try database.messageCount(communityID: community.summary.communityID) == 0)
        #expect(try !database.isImported(archiveID: entry.id.string))
        #expect {
            _ = try community.fixture.readIndex(keys: WrongKeys())
        } throws: { error in
            if case .decryptionFailed("archive index", _)? = error as? ArchiveDecodingError { return true }
            return false
        }
    }

    @Test func theBundledEncryptedCommunityIsWhatTheGeneratorMakes() async throws {
        let community = try await Self.community()
        for file in ["manifest.json", "local-messages.json", EncryptedFixtureGenerator.keysFile] {
            #expect(try Data(contentsOf: community.directory.appendingPathComponent(file))
                    == Data(contentsOf: TestSupport.encryptedFixture.appendingPathComponent(file)), "\(file)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: community.directory.appendingPathComponent("blobs").path).sorted()
        #expect(names == (try FileManager.default.contentsOfDirectory(atPath: TestSupport.encryptedFixture.appendingPathComponent("blobs").path).sorted()))
    }
}
