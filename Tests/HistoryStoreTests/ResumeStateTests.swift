import Foundation
import GRDB
import StatusCrypto
import StatusWire
import Testing
@testable import HistoryStore

/// Issue 22, item 3: what a sync resumes from comes back typed, as it was written (GRDB's value
/// conversion), and a row that does not read is listed for the reader to report: never skipped
/// in silence, never turned into a guessed value (an empty topic list rejected good archives).
@Suite(.timeLimit(.minutes(5))) struct ResumeStateTests {
    let community = "0x02aa"

    func temporaryDatabase() throws -> HistoryDatabase {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try HistoryDatabase(path: directory.appendingPathComponent("history.sqlite").path)
    }

    func download(_ name: String) throws -> DownloadedArchiveRecord {
        DownloadedArchiveRecord(id: ArchiveID(hashing: Array(name.utf8)), communityID: community, cid: try CID.codex(of: Array(name.utf8)).manifestCID,
                                path: "/archives/\(name)", from: 0, to: 604_800, contentTopics: [ContentTopic(chatID: name)])
    }

    @Test func whatWasWrittenTypedReadsBackTyped() async throws {
        let db = try temporaryDatabase()
        let written = try download("week")
        try await db.recordDownloaded(written)
        let rejected = ArchiveID(hashing: Array("bad".utf8))
        try await db.recordFailure(archiveID: rejected.string, communityID: community, reason: "malformed", disposition: .rejected(decoderRevision: 2))
        let index = try CID.codex(of: Array("index".utf8)).manifestCID
        try await db.updateIndexState(communityID: community) { $0.indexCID = index.string; $0.indexClock = 7 }

        let state = try await db.resumeState(communityID: community, decoderRevision: 2)
        #expect(state.downloaded == [written])
        #expect(state.rejected == [rejected: "malformed"])
        #expect(state.indexCID == index && state.indexClock == 7 && state.processedIndexCID == nil)
        #expect(state.unreadable.isEmpty)
    }

    @Test func rowsThatDoNotReadAreListedNotGuessed() async throws {
        let db = try temporaryDatabase()
        try await db.recordDownloaded(try download("good"))
        try await db.recordDownloaded(try download("damaged-cid"))
        try await db.recordDownloaded(try download("damaged-topics"))
        let damagedCID = ArchiveID(hashing: Array("damaged-cid".utf8)).string
        let damagedTopics = ArchiveID(hashing: Array("damaged-topics".utf8)).string
        try await db.pool.write { db in
            try db.execute(sql: "UPDATE downloaded_archive SET cid = 'not a cid' WHERE id = ?", arguments: [damagedCID])
            try db.execute(sql: "UPDATE downloaded_archive SET content_topics = '[\"0x01\"]' WHERE id = ?", arguments: [damagedTopics])
        }
        try await db.updateIndexState(communityID: community) { $0.indexCID = "not a cid either" }

        let state = try await db.resumeState(communityID: community, decoderRevision: 2)
        #expect(state.downloaded.map(\.id) == [ArchiveID(hashing: Array("good".utf8))])
        #expect(state.indexCID == nil)
        let unreadable = Set(state.unreadable.map { "\($0.table.rawValue) \($0.key)" })
        #expect(unreadable == ["downloaded_archive \(damagedCID)", "downloaded_archive \(damagedTopics)", "community_index_state \(community)"])
        // The reader forgets an unreadable download by the key it was stored under.
        try await db.removeDownloaded(storedID: damagedCID)
        #expect(try await db.resumeState(communityID: community, decoderRevision: 2).unreadable.count == 2)
    }
}
