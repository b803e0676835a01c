import ControlNode
import Fixtures
import Foundation
import HistoryStore
import StatusWire
import Testing
@testable import ArchiveImport

/// The bundled fixture community, replayed through the whole offline pipeline.
@Suite(.timeLimit(.minutes(5))) struct FixtureReplayTests {
    @Test func bundledFixtureReplaysToItsExpectedReport() async throws {
        let fixture = try FixtureDirectory(url: TestSupport.bundledFixture)
        let report = try await Replay(fixture: fixture, database: try TestSupport.temporaryDatabase()).run()
        let data = try Data(contentsOf: TestSupport.bundledFixture.appendingPathComponent("expected-report.json"))
        let expected = try JSONDecoder().decode(ReplayReport.self, from: data)
        #expect(report == expected)
    }

    @Test func replayFindsExactlyWhatTheControlNodePlanted() async throws {
        // Regenerate with the bundled fixture's seed: the generator's summary is an
        // independent account of what the archives contain.
        let directory = try TestSupport.temporaryDirectory("fixture")
        let summary = try FixtureGenerator(configuration: .init(seed: 1)).write(to: directory)
        let report = try await Replay(fixture: try FixtureDirectory(url: directory), database: try TestSupport.temporaryDatabase()).run()

        #expect(summary.validMessages >= 5000)
        #expect(report.archives.imported == summary.archives)
        #expect(report.archives.rejected.count == summary.mismatchedIndexKeys)
        #expect(report.archives.rejected.contains { $0.reason.contains("key does not match") })
        // The encrypted archive is not bad: it waits for its key (the fixture does not hold it).
        #expect(report.archives.waitingForKey.count == summary.encryptedArchives)
        #expect(report.messages.stored + report.messages.replaced == summary.validMessages)
        #expect(report.messages.replaced == summary.localReplaced)
        #expect(report.messages.removed == summary.localRemoved)
        #expect(report.messages.rejected == summary.plantedRejections)
        #expect(report.database.messageCount == summary.validMessages + summary.localKept)
        #expect(Set(report.results.map(\.compression)) == [.none, .zlib, .gzip])
    }

    @Test func bundledFixtureIsWhatTheGeneratorMakes() async throws {
        let directory = try TestSupport.temporaryDirectory("fixture")
        try FixtureGenerator(configuration: .init(seed: 1)).write(to: directory)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("blobs").path).sorted()
        let bundled = try FileManager.default.contentsOfDirectory(atPath: TestSupport.bundledFixture.appendingPathComponent("blobs").path).sorted()
        #expect(names == bundled)
        for file in ["manifest.json", "local-messages.json"] {
            #expect(try Data(contentsOf: directory.appendingPathComponent(file))
                    == Data(contentsOf: TestSupport.bundledFixture.appendingPathComponent(file)), "\(file)")
        }
    }

    /// A community published on a 2025 node (every CID in the 2025 manifest layout, as the
    /// fixtures were before 2026) replays to the same history as the bundled one, whose CIDs are
    /// in the current layout: the bytes are the same, only their names differ (and with them
    /// the archive IDs, which hash the index entry and so its CID).
    @Test func aFixtureOfEitherLayoutReplaysToTheSameHistory() async throws {
        let directory = try TestSupport.temporaryDirectory("fixture-2025")
        try FixtureGenerator(configuration: .init(seed: 1, layout: .codex2025)).write(to: directory)
        let old = try FixtureDirectory(url: directory)
        let bundled = try FixtureDirectory(url: TestSupport.bundledFixture)
        #expect(old.layout == .codex2025 && bundled.layout == .current)
        #expect(old.manifest.indexCID != bundled.manifest.indexCID)
        let oldReport = try await Replay(fixture: old, database: try TestSupport.temporaryDatabase()).run()
        let newReport = try await Replay(fixture: bundled, database: try TestSupport.temporaryDatabase()).run()
        #expect(oldReport.database.messageCount == newReport.database.messageCount)
        #expect(oldReport.archives.imported == newReport.archives.imported)
        #expect(oldReport.messages == newReport.messages)
    }

    /// Regression: `replay` used to import an archive blob without checking it is what its CID
    /// names. A blob whose bytes were changed is rejected and nothing of it is imported.
    @Test func aBlobThatIsNotItsCIDIsRejected() async throws {
        let directory = try TestSupport.temporaryDirectory("fixture").appendingPathComponent("copy")
        try FileManager.default.copyItem(at: TestSupport.bundledFixture, to: directory)
        let fixture = try FixtureDirectory(url: directory)
        let (_, index) = try fixture.readIndex()
        let victim = index.entries[2]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: fixture.blobPath(victim.cid)))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: fixture.blobPath(victim.cid)))
        let report = try await Replay(fixture: fixture, database: try TestSupport.temporaryDatabase()).run()
        #expect(report.archives.imported == 8)
        let rejection = try #require(report.archives.rejected.first { $0.id == victim.id.string })
        #expect(rejection.reason.contains("is not what that CID names"))
        // The index blob is checked the same way.
        let indexPath = URL(fileURLWithPath: fixture.blobPath(try CID(fixture.manifest.indexCID)))
        try (try Data(contentsOf: indexPath) + Data([0])).write(to: indexPath)
        #expect(throws: FixtureError.self) { try fixture.readIndex() }
    }

    @Test func replayingAgainChangesNothing() async throws {
        let fixture = try FixtureDirectory(url: TestSupport.bundledFixture)
        let database = try TestSupport.temporaryDatabase()
        let first = try await Replay(fixture: fixture, database: database).run()
        let second = try await Replay(fixture: fixture, database: database).run()
        #expect(second.archives.imported == 0 && second.archives.skipped == first.archives.imported)
        #expect(first.database.digest != nil && second.database.digest == first.database.digest)
        // Forcing a re-import of every archive rewrites the same rows: same digest.
        let forced = try await Replay(fixture: fixture, database: database, options: .init(force: true)).run()
        #expect(forced.archives.imported == first.archives.imported)
        #expect(forced.messages.stored == 0 && forced.messages.removed == 0)
        #expect(forced.database.digest == first.database.digest)
        // The index is never fully processed: its encrypted archive cannot be imported.
        let state = try database.indexState(communityID: first.communityID)
        #expect(state?.indexCID == first.indexCID)
        #expect(state?.processedIndexCID == nil)
    }

    @Test func mergeModeKeepsLocalCopies() async throws {
        let fixture = try FixtureDirectory(url: TestSupport.bundledFixture)
        let report = try await Replay(fixture: fixture, database: try TestSupport.temporaryDatabase(), options: .init(mode: .merge)).run()
        #expect(report.messages.replaced == 0 && report.messages.removed == 0)
        #expect(report.messages.unchanged == 45)
        #expect(report.database.messageCount == report.messages.stored + report.localMessagesSeeded)
    }
}
