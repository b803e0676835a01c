import ControlNode
import Fixtures
import Foundation
import StatusWire
import Synchronization
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

    /// The workers take a batch's messages a share at a time: each message goes to exactly one
    /// of them, whatever the batch's size against the share's, however the takes interleave. A
    /// message taken twice would be verified twice into one slot; one never taken, read unset.
    @Test(arguments: [1, 2, 15, 16, 17, 300, ParallelVerification.batchSize])
    func everyMessageOfABatchIsTakenOnce(count: Int) {
        let slots = UnsafeMutablePointer<ArchivedMessageUnwrapper.Outcome>.allocate(capacity: count)
        defer { slots.deallocate() }
        let shares = BatchShares(base: slots, count: count)
        let taken = Mutex<[Range<Int>]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            while let share = shares.take() { taken.withLock { $0.append(share) } }
        }
        let ranges = taken.withLock { $0 }.sorted { $0.lowerBound < $1.lowerBound }
        #expect(ranges.allSatisfy { !$0.isEmpty && $0.count <= BatchShares.shareSize })
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == count && ranges.count == shares.shareCount)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(shares.take() == nil)
    }
}
