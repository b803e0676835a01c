import ArchiveImport
import ArgumentParser
import Fixtures
import Foundation
import HistoryStore
import PeerHTTP
import StatusWire

/// `benchmark apply`: the apply step alone, over a whole fixture. Each archive is decoded and
/// verified into memory first (not timed), then written as an import writes it. The apply step
/// is the one part of an import that cannot run in parallel (SQLite has one writer), so its rate
/// here is the most any number of cores can import: the ceiling that a 2-core machine can show
/// for a 16-core one (issue 28).
struct ApplyBenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Time the apply step alone over a fixture's archives, newest first, into a new database with its local copies.",
        discussion: """
            Every archive is verified into memory first (untimed), then applied with the same chunks, pauses for a chat \
            client and checkpoints as an import. Its rate bounds an import on any number of cores. Build with -c release.
            """)

    @Option(help: "The fixture directory (from `control-node generate-fixtures`).")
    var fixture: String

    @Option(help: "Apply only the newest this many archives (default: all).")
    var archives: Int?

    @Option(help: "Working directory; the database goes in its `apply` subdirectory, replaced each run (default: a new temporary directory, removed at the end).")
    var workDir: String?

    func validate() throws {
        if let archives, archives < 1 { throw ValidationError("--archives must be at least 1") }
    }

    func run() async throws {
        let fixture = try FixtureDirectory(url: URL(fileURLWithPath: fixture))
        let base = URL(fileURLWithPath: workDir ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("community-history-apply-benchmark-\(getpid())").path)
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { if workDir == nil { BenchmarkWorkDirectory.remove(base) } }
        // A directory of its own, as `run` and `sync` keep theirs: never a database the user keeps in --work-dir.
        let directory = base.appendingPathComponent("apply")
        try BenchmarkWorkDirectory.fresh(directory)
        let database = try HistoryDatabase(path: directory.appendingPathComponent("history.sqlite").path)
        _ = try await database.insertLocalMessages(try fixture.localMessages())
        let importer = ArchiveImporter(database: database, communityID: fixture.manifest.communityID)
        let (_, index) = try fixture.readIndex()
        let entries = Array(index.entries.reversed().prefix(archives ?? index.entries.count))

        print("the apply step alone (rows verified first, untimed), newest archive first")
        print(columns(["archive", "messages", "seconds", "messages/s", "held s", "CPU s", "commit s", "commits", "paused s", "waited s", "aside s"]))
        var total = (messages: 0, seconds: 0.0)
        for (number, entry) in entries.enumerated() {
            let verified: VerifiedArchive
            do {
                verified = try await importer.verifiedArchive(entry, path: try fixture.verifiedBlobPath(entry.cid))
            } catch ArchiveDecodingError.encrypted {
                // As `sync` without the group's keys, and as the C reference, which skips it too.
                print(columns(["\(number + 1)", "skipped: encrypted"]))
                continue
            }
            let before = database.importStageTimes
            let transactionsBefore = database.importWriteLockHolds.count
            let started = ContinuousClock.now
            _ = try await importer.apply(verified)
            let seconds = (ContinuousClock.now - started).inSeconds
            let after = database.importStageTimes
            total.messages += verified.rows.count
            total.seconds += seconds
            print(columns(["\(number + 1)", "\(verified.rows.count)", format(seconds), String(format: "%.0f", Double(verified.rows.count) / seconds),
                           format((after.applyHeld - before.applyHeld).inSeconds), format((after.applyCPU - before.applyCPU).inSeconds),
                           format((after.applyCommitting - before.applyCommitting).inSeconds),
                           "\(database.importWriteLockHolds.count - transactionsBefore)",
                           format((after.applyPaused - before.applyPaused).inSeconds),
                           format((after.applyCheckpointed - before.applyCheckpointed).inSeconds),
                           format((after.checkpointedAside - before.checkpointedAside).inSeconds)]))
        }
        guard total.messages > 0 else { throw ValidationError("the fixture has no archive this benchmark can apply (all encrypted?)") }
        print("commit s: the part of held s spent committing; commits: the archive's transactions (with its first and last)")
        print("waited: the apply checkpointed, or waited for the checkpoints beside it to catch up (its path); aside: "
              + "those checkpoints, on their own thread, overlapping the apply (not its path)")
        print("all: \(total.messages) messages in \(format(total.seconds)) s: \(String(format: "%.0f", Double(total.messages) / total.seconds)) messages/s; "
              + "longest write-lock hold \(format(database.importWriteLockHolds.longest.inSeconds)) s; "
              + "largest WAL \(String(format: "%.1f", Double(database.importStageTimes.largestWALBytes) / 1_048_576)) MiB")
        print("build: \(BenchmarkCommand.Run.buildConfiguration); cores: \(ArchiveImportOptions.defaultVerificationWorkers)")
    }

    private func format(_ seconds: Double) -> String { String(format: "%.2f", seconds) }

    private func columns(_ values: [String]) -> String {
        values.map { $0.count >= 10 ? $0 + " " : $0 + String(repeating: " ", count: 10 - $0.count) }.joined()
    }
}
