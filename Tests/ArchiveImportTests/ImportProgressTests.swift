import ControlNode
import Foundation
import HistoryStore
import Synchronization
import Testing
@testable import ArchiveImport

/// A long import tells how far it is, so a progress bar can move before it commits.
@Suite(.timeLimit(.minutes(5))) struct ImportProgressTests {
    @Test func progressIsReportedEveryThousandEntries() async throws {
        let directory = try TestSupport.temporaryDirectory("progress")
        let database = try TestSupport.temporaryDatabase()
        let archive = BenchmarkArchive()
        let path = directory.appendingPathComponent("archive").path
        try await archive.write(count: 2_500, to: path, localCopiesIn: try TestSupport.temporaryDatabase())

        let reported = Mutex<[Int]>([])
        let result = try await ArchiveImporter(database: database, communityID: archive.community.communityID)
            .importArchive(archive.entry, path: path, progress: { entries in reported.withLock { $0.append(entries) } })
        #expect(reported.withLock { $0 } == [1_000, 2_000])
        #expect(result.entries == 2_500 && result.counts.stored == 2_500)
    }
}
