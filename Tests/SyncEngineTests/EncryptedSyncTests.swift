import ArchiveImport
import CodexClient
import ControlNode
import DemoNetwork
import Fixtures
import Foundation
import GroupKeys
import HistoryStore
import OneShot
import StatusWire
import Testing
import WakuClient
@testable import SyncEngine

/// An encrypted community over the demo network (issue 12): nothing is readable without its
/// keys, nothing is retried while they are missing, and keys imported after a sync import the
/// archives that waited from their kept downloads.
@Suite(.serialized, .timeLimit(.minutes(5))) struct EncryptedSyncTests {
    @Test func anEncryptedCommunitySyncsAsItsKeysArriveWithoutDownloadingAnArchiveTwice() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("encrypted-sync-\(UUID().uuidString)")
        let fixture = scratch.appendingPathComponent("community")
        let summary = try EncryptedFixtureGenerator().write(to: fixture)
        let keys = try GroupKeyStore.parseImport(try Data(contentsOf: fixture.appendingPathComponent(EncryptedFixtureGenerator.keysFile)))
        let codexNode = try await DemoCodexNode.start(directory: scratch.appendingPathComponent("codex"))
        let wakuNode = try await DemoWakuNode.start()
        defer { Task { await codexNode.stop(); await wakuNode.stop() } }
        let publisher = try CommunityPublisher(fixture: try FixtureDirectory(url: fixture))
        let codex = CodexClient(baseURL: codexNode.baseURL, retry: SyncIntegrationTests.fastRetry)
        let waku = WakuClient(baseURL: wakuNode.baseURL, retry: SyncIntegrationTests.fastRetry)
        try await publisher.uploadBlobs(to: codex)
        try await publisher.announce(on: waku, clock: UInt64(Date().timeIntervalSince1970 * 1000))
        let database = try HistoryDatabase(path: scratch.appendingPathComponent("history.sqlite").path)
        let communityID = publisher.community.communityID

        func sync(_ held: [GroupKey]) async throws -> SyncReport {
            var options = OneShotSync.Options(communityID: communityID, quietWindow: .milliseconds(200),
                                              retryInitialDelay: .milliseconds(300), archivesDirectory: scratch.appendingPathComponent("archives"))
            options.keys = held.isEmpty ? nil : GroupKeyRing(held)
            return try await OneShotSync(options: options, waku: waku, codex: codex, database: database).run()
        }

        // No key: the index waits for the newest key; nothing downloaded, stored or retried.
        let none = try await sync([])
        guard case .failed(.waitingForKey, _) = none.outcome else { Issue.record("\(none.outcome)"); return }
        #expect(none.archives.waitingForKey == [publisher.indexCID: "key \(summary.keyIDs[1]) of group \(communityID)"])
        #expect(none.archives.downloaded == 0 && none.database.messageCount == 0)
        #expect(try await database.keyWaits(communityID: communityID.string).map(\.kind) == [.index])

        // The newest key: the index and the newer weeks open; the older weeks are downloaded and wait.
        let older = Set(summary.archiveKeys.filter { $0.value == summary.keyIDs[0] }.keys)
        let newest = try await sync([keys[1]])
        #expect(newest.outcome.succeeded && newest.archives.imported == summary.archiveKeys.count - older.count, "\(newest.outcome)")
        #expect(Set(newest.archives.waitingForKey.keys) == older)
        #expect(newest.archives.downloaded == summary.archiveKeys.count)
        let waits = try await database.keyWaits(communityID: communityID.string)
        #expect(waits.filter { $0.kind == .archive }.map(\.item).sorted() == older.sorted())
        #expect(!waits.contains { $0.kind == .index }, "the index's wait ended")
        // The newer weeks' #dev messages are encrypted with the channel's key: held for it.
        let held = waits.filter { $0.kind == .messages }
        #expect(held.allSatisfy { $0.keyID == summary.keyIDs[2] } && held.compactMap(\.messageCount).reduce(0, +) == summary.channelKeyMessages / 2)

        // Every key: the waiting archives import from their kept files. Nothing is downloaded.
        let all = try await sync(keys)
        #expect(all.outcome.succeeded && all.archives.imported == older.count, "\(all.outcome)")
        #expect(all.archives.downloaded == 0 && all.archives.waitingForKey.isEmpty)
        #expect(all.heldMessagesReleased == summary.channelKeyMessages / 2, "the held #dev messages, stored without a download")
        #expect(all.database.messageCount == summary.validMessages)
        #expect(try await database.keyWaits(communityID: communityID.string).isEmpty)
    }
}
