import CodexClient
import Foundation
import HistoryStore
import StatusWire
import Testing
@testable import SyncEngine

/// Regression (issue 9, defect 10): a process killed between an import's commit and its
/// clean-up left the archive's download record and file behind for good (4 of 50 kill -9
/// trials). The import now removes the records in its own transaction, and a start removes the
/// files an interrupted run left.
@Suite(.timeLimit(.minutes(5))) struct LeftoverTests {
    static let communityID = CommunitySyncMachineTests.communityID

    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("leftovers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The archive ID of a test archive named `name`.
    static func id(_ name: String) -> ArchiveID { ArchiveID(hashing: Array(name.utf8)) }

    func record(_ name: String, cid: CID, path: URL) -> DownloadedArchiveRecord {
        DownloadedArchiveRecord(id: Self.id(name), communityID: Self.communityID.string, cid: cid, path: path.path, from: 0, to: 604_800, contentTopics: [])
    }

    @Test func anImportCommitsItsDownloadRecordAndFailureAway() async throws {
        let directory = try scratch()
        let database = try HistoryDatabase(path: directory.appendingPathComponent("history.sqlite").path)
        let cid = try CID.codex(of: Array("week".utf8)).manifestCID
        try await database.recordDownloaded(record("week", cid: cid, path: directory.appendingPathComponent(cid.string)))
        try await database.recordFailure(archiveID: Self.id("week").string, communityID: Self.communityID.string, reason: "download: HTTP 500", disposition: .retrying)
        _ = try await database.hydrate(archive: ArchiveRecord(id: Self.id("week").string, communityID: Self.communityID.string, cid: cid.string), mode: .replace) { _ in
            ArchiveContentSummary(from: 0, to: 604_800, contentTopics: [], entryCount: 0, rejections: [:])
        }
        #expect(try database.downloadedArchives(communityID: Self.communityID.string).isEmpty)
        #expect(try await database.communityStatuses().first?.archivesFailed == 0)
    }

    @Test(.timeLimit(.minutes(5)))
    func aStartRemovesWhatAKilledRunLeft() async throws {
        let directory = try scratch()
        let archives = directory.appendingPathComponent("archives")
        try FileManager.default.createDirectory(at: archives, withIntermediateDirectories: true)
        let database = try HistoryDatabase(path: directory.appendingPathComponent("history.sqlite").path)
        let imported = try CID.codex(of: Array("imported".utf8)).manifestCID
        let pending = try CID.codex(of: Array("pending".utf8)).manifestCID
        func file(_ name: String) throws -> URL {
            let url = archives.appendingPathComponent(name)
            try Data("x".utf8).write(to: url)
            return url
        }
        // Killed after the import's commit, before its clean-up (as the old code left it).
        _ = try await database.hydrate(archive: ArchiveRecord(id: Self.id("imported").string, communityID: Self.communityID.string, cid: imported.string), mode: .replace) { _ in
            ArchiveContentSummary(from: 0, to: 604_800, contentTopics: [], entryCount: 0, rejections: [:])
        }
        let importedFile = try file(imported.string)
        try await database.recordDownloaded(record("imported", cid: imported, path: importedFile))
        // Killed mid-download and mid-index-fetch; one archive still waits for its import.
        let partial = try file(".\(pending.string).partial")
        let index = try file("index-\(imported.string)")
        let waiting = try file(pending.string)
        try await database.recordDownloaded(record("pending", cid: pending, path: waiting))
        let unrelated = try file("notes.txt")

        let driver = RunningDriver(CommunitySyncDriver(
            configuration: .init(communityID: Self.communityID), database: database,
            codex: CodexClient(baseURL: URL(string: "http://127.0.0.1:9")!), archivesDirectory: archives))
        // Nothing to do but the waiting archive's import, which fails (its bytes are not an
        // archive): then the driver is idle.
        _ = await driver.nextOutcome()
        await driver.stop()

        let exists = { (url: URL) in FileManager.default.fileExists(atPath: url.path) }
        #expect(!exists(importedFile) && !exists(partial) && !exists(index))
        #expect(exists(unrelated), "a file the driver did not write is left alone")
        // The imported archive's stale record is gone. (The waiting one went to its import, which
        // fails here and discards it: its bytes are not what its CID names.)
        #expect(!(try database.downloadedArchives(communityID: Self.communityID.string).map(\.id).contains(Self.id("imported"))))
    }
}
