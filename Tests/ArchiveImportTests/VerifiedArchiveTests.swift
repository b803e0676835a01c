import ControlNode
import Foundation
import HistoryStore
import Testing
@testable import ArchiveImport

/// `benchmark apply` times the apply step alone on rows verified first (issue 28): what it
/// writes must be what an import writes, or its rate would describe another job.
@Suite(.timeLimit(.minutes(5))) struct VerifiedArchiveTests {
    @Test func applyingVerifiedRowsStoresWhatAnImportStores() async throws {
        let archive = BenchmarkArchive()
        let directory = try TestSupport.temporaryDirectory("verified")
        // Two databases with the same local copies (half the archive's messages), one archive.
        let imported = try TestSupport.temporaryDatabase()
        let applied = try TestSupport.temporaryDatabase()
        let path = directory.appendingPathComponent("archive").path
        let again = directory.appendingPathComponent("archive-again").path
        try await archive.write(count: 3_000, to: path, localCopiesIn: imported)
        try await archive.write(count: 3_000, to: again, localCopiesIn: applied)
        #expect(FileManager.default.contents(atPath: path) == FileManager.default.contents(atPath: again))
        #expect(try imported.messageDigest() == applied.messageDigest())

        let result = try await ArchiveImporter(database: imported, communityID: archive.community.communityID)
            .importArchive(archive.entry, path: path)
        let importer = ArchiveImporter(database: applied, communityID: archive.community.communityID)
        let verified = try await importer.verifiedArchive(archive.entry, path: again)
        #expect(verified.rows.count == 3_000)
        let counts = try await importer.apply(verified)

        #expect(counts == result.counts)
        #expect(counts.stored > 0 && counts.replaced > 0)
        #expect(try applied.messageDigest() == imported.messageDigest())
        #expect(try applied.isImported(archiveID: archive.entry.id.string))
    }
}
