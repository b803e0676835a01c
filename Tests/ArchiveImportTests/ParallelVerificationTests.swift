import ControlNode
import Fixtures
import Foundation
import HistoryStore
import Testing
@testable import ArchiveImport

/// Verifying on several threads changes how fast an import is, never what it stores: the same
/// rows, counts and rejections as one thread, in the same order, across batch boundaries.
@Suite(.timeLimit(.minutes(5))) struct ParallelVerificationTests {
    @Test func theBundledFixtureImportsTheSameWithOneOrManyWorkers() async throws {
        let fixture = try FixtureDirectory(url: TestSupport.bundledFixture)
        let one = try await Replay(fixture: fixture, database: try TestSupport.temporaryDatabase(),
                             options: ArchiveImportOptions(verificationWorkers: 1)).run()
        let many = try await Replay(fixture: fixture, database: try TestSupport.temporaryDatabase(),
                              options: ArchiveImportOptions(verificationWorkers: 4)).run()
        // Segmented messages, forged authors and encrypted entries are in the fixture.
        #expect(one.messages.rejectedTotal > 0 && one.archives.imported == 9)
        #expect(many.messages == one.messages && many.archives == one.archives)
        #expect(one.database.digest != nil && many.database.digest == one.database.digest)
    }

    @Test func anArchiveLongerThanABatchImportsTheSameWithOneOrManyWorkers() async throws {
        let archive = BenchmarkArchive()
        let count = ParallelVerification.batchSize * 2 + 300
        var results: [(ArchiveImportResult, String)] = []
        for workers in [1, 3] {
            let directory = try TestSupport.temporaryDirectory("parallel")
            let database = try TestSupport.temporaryDatabase()
            let path = directory.appendingPathComponent("archive").path
            try await archive.write(count: count, to: path, localCopiesIn: database)
            let result = try await ArchiveImporter(database: database, communityID: archive.community.communityID)
                .importArchive(archive.entry, path: path, options: ArchiveImportOptions(verificationWorkers: workers))
            results.append((result, try database.messageDigest()))
        }
        #expect(results[0].0.entries == count && results[0].0.counts.stored + results[0].0.counts.replaced == count)
        #expect(results[1].0.counts == results[0].0.counts && results[1].0.rejected == results[0].0.rejected)
        #expect(results[1].1 == results[0].1)
    }
}
