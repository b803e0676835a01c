import ArchiveImport
import ArgumentParser
import CodexClient
import ControlNode
import DemoNetwork
import Fixtures
import Foundation
import GRDB
import HistoryStore
import OneShot
import PeerHTTP
import SyncEngine
import WakuClient

/// `benchmark sync`: what a user meets. A generated community (or a fixture) is served on the
/// demo Codex and nwaku nodes, and `sync` runs in a fresh process against a database that holds
/// the chat client's local copies, while a probe writes beside it as a chat client would.
struct SyncBenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Sync a generated community from the demo nodes in a fresh process and print time, rates, write-lock waits, memory and size.",
        discussion: """
            For each --workers value: a new database with the fixture's local copies, then `sync --settle 0 --json` as a \
            child process, while a probe connection writes one row every --probe-interval-ms and records its longest wait. \
            Build with -c release for meaningful figures.
            """)

    @Option(help: "Messages to generate (spread over --weeks weekly archives).")
    var messages = 200_000

    @Option(help: "Weekly archives to generate.")
    var weeks = 8

    @Option(help: "Sync this fixture directory instead of generating one (from `control-node generate-fixtures`).")
    var fixture: String?

    @Option(name: .customLong("workers"), help: "Verification threads of the sync (repeatable; default 1 and one per core).")
    var workerCounts: [Int] = Array(Set([1, ArchiveImportOptions.defaultVerificationWorkers])).sorted()

    @Option(help: "How often the probe writes, in milliseconds.")
    var probeIntervalMs = 50

    @Option(help: "Working directory (default: a new temporary directory, removed at the end).")
    var workDir: String?

    @Flag(help: "Print the results as JSON.")
    var json = false

    func validate() throws {
        guard messages >= weeks, weeks >= 1 else { throw ValidationError("--messages must be at least --weeks, and --weeks at least 1") }
        guard workerCounts.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--workers must be at least 1") }
        guard probeIntervalMs >= 1 else { throw ValidationError("--probe-interval-ms must be at least 1") }
    }

    func run() async throws {
        let base = URL(fileURLWithPath: workDir ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("community-history-sync-benchmark-\(getpid())").path)
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { if workDir == nil { BenchmarkWorkDirectory.remove(base) } }

        let fixtureDirectory = try FixtureDirectory(url: try prepareFixture(in: base))
        let publisher = try CommunityPublisher(fixture: fixtureDirectory)
        let codexNode = try await DemoCodexNode.start(directory: base.appendingPathComponent("codex-node"))
        let wakuNode = try await DemoWakuNode.start()
        var results: [SyncBenchmarkResult] = []
        do {
            status("uploading the archives to the demo storage node…")
            try await publisher.uploadBlobs(to: CodexClient(baseURL: codexNode.baseURL))
            try await publisher.announce(on: WakuClient(baseURL: wakuNode.baseURL), clock: UInt64(Date().timeIntervalSince1970 * 1000))
            let localCopies = try fixtureDirectory.localMessages()
            for workers in workerCounts {
                status("syncing with \(workers) worker(s)…")
                results.append(try await measure(workers: workers, community: publisher.community.communityID.string,
                                                 localCopies: localCopies, codex: codexNode.baseURL, waku: wakuNode.baseURL, base: base))
            }
        } catch {
            await codexNode.stop()
            await wakuNode.stop()
            throw error
        }
        await codexNode.stop()
        await wakuNode.stop()
        if json {
            print(try ReportJSON.encode(results))
        } else {
            printTable(results, served: try blobBytes(fixtureDirectory))
        }
    }

    /// Generates the community (unless --fixture names one) and returns its directory.
    private func prepareFixture(in base: URL) throws -> URL {
        if let fixture { return URL(fileURLWithPath: fixture) }
        let directory = base.appendingPathComponent("fixture")
        // The last week ends an hour ago, so that no archive lies in the future.
        let now = UInt64(Date().timeIntervalSince1970)
        let start = now - 3600 - UInt64(weeks) * FixtureGenerator.week
        status("generating \(messages) messages in \(weeks) weekly archives…")
        let generator = FixtureGenerator(configuration: .init(seed: 10, weeks: weeks, messagesPerWeek: messages / weeks, start: start))
        try generator.write(to: directory)
        return directory
    }

    private func measure(workers: Int, community: String, localCopies: [StoredMessage], codex: URL, waku: URL, base: URL) async throws -> SyncBenchmarkResult {
        let directory = base.appendingPathComponent("workers-\(workers)")
        try BenchmarkWorkDirectory.fresh(directory)
        let db = directory.appendingPathComponent("history.sqlite").path
        // The chat client's live copies, as a member who has been online lately has them.
        try await HistoryDatabase(path: db).insertLocalMessages(localCopies)

        let probe = try WriteProbe(databasePath: db, interval: .milliseconds(probeIntervalMs))
        probe.start()
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let stdout = directory.appendingPathComponent("sync.json").path, stderr = directory.appendingPathComponent("sync.log").path
        let child: ChildProcess.Finished
        do {
            child = try await ChildProcess.run(executable, [
                "sync", "--community", community, "--codex-url", codex.absoluteString, "--waku-url", waku.absoluteString,
                "--db", db, "--settle", "0", "--json", "--workers", "\(workers)",
            ], stdout: stdout, stderr: stderr)
        } catch {
            _ = probe.stop()
            throw error
        }
        let waits = probe.stop()
        guard child.exitCode == 0 else {
            let log = (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? ""
            throw ValidationError("the sync exited with \(child.exitCode.map(String.init) ?? "a signal"); its log (\(stderr)):\n"
                                  + log.split(separator: "\n").suffix(20).joined(separator: "\n"))
        }
        let report = try JSONDecoder().decode(SyncReport.self, from: Data(contentsOf: URL(fileURLWithPath: stdout)))
        let performance = report.performance
        let entries = performance.archives.reduce(0) { $0 + $1.entries }
        func rate(_ archive: SyncPerformance.ArchiveImport?) -> Double? {
            archive.flatMap { $0.sincePreviousCommitSeconds > 0 ? Double($0.entries) / $0.sincePreviousCommitSeconds : nil }
        }
        return SyncBenchmarkResult(
            workers: workers, archives: performance.archives.count, entries: entries, messagesStored: report.database.messageCount,
            seconds: child.seconds, messagesPerSecond: Double(entries) / child.seconds,
            firstArchiveMessagesPerSecond: rate(performance.archives.first), lastArchiveMessagesPerSecond: rate(performance.archives.last),
            indexToFirstImportSeconds: performance.indexToFirstImportSeconds, longestWriteLockSeconds: performance.longestWriteLockSeconds,
            probeWrites: waits.count, probeFailures: waits.failures, probeLongestWaitSeconds: waits.longestSeconds,
            peakResidentMiB: performance.peakResidentMiB,
            bytesPerMessage: Double(try databaseBytes(db)) / Double(max(1, report.database.messageCount)))
    }

    /// The database's size with its WAL folded in.
    private func databaseBytes(_ path: String) throws -> Int64 {
        let queue = try DatabaseQueue(path: path)
        return try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            return try Int64.fetchOne(db, sql: "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()") ?? 0
        }
    }

    private func blobBytes(_ fixture: FixtureDirectory) throws -> Int64 {
        let blobs = fixture.url.appendingPathComponent("blobs")
        return try FileManager.default.contentsOfDirectory(atPath: blobs.path).reduce(0) { total, name in
            total + ((try FileManager.default.attributesOfItem(atPath: blobs.appendingPathComponent(name).path)[.size] as? Int64) ?? 0)
        }
    }

    private func printTable(_ results: [SyncBenchmarkResult], served: Int64) {
        guard let first = results.first else { return }
        print("sync from the demo nodes: \(first.entries) archived entries in \(first.archives) archives imported, "
              + String(format: "%.1f MiB", Double(served) / 1_048_576) + " served; the database held the chat client's local copies")
        let columns = ["workers", "total s", "entries/s", "first archive entries/s", "last archive entries/s", "index→first import s",
                       "write lock s", "probe wait s", "peak RSS MiB", "bytes/msg"]
        print(columns.joined(separator: "  "))
        for r in results {
            print(zip(cells(r), columns).map { cell, column in cell.padding(toLength: max(column.count, cell.count), withPad: " ", startingAt: 0) }
                .joined(separator: "  "))
        }
        print("build: \(BenchmarkCommand.Run.buildConfiguration); cores: \(ArchiveImportOptions.defaultVerificationWorkers); "
              + "probe: one write every \(probeIntervalMs) ms from its own connection")
        print("""
            entries/s: archived entries read (rejected ones included) over the sync process's whole run (start, store \
            query, downloads, imports); an archive's rate is its entries over the time from the commit before it (the \
            first archive's: from its start) to its own, as the next archive is verified while one is written. write \
            lock: the longest an import held it (a transaction of rows, about 0.1 s, or the one that publishes an archive), up to \
            its commit (the WAL is copied into the database file beside the import, holding no lock). probe wait: the longest \
            one of the probe's writes took, with SQLite's busy handler sleeping between tries as a chat client's does.
            """)
    }

    private func cells(_ r: SyncBenchmarkResult) -> [String] {
        func figure(_ value: Double?, _ format: String) -> String { value.map { String(format: format, $0) } ?? "-" }
        var probe = figure(r.probeLongestWaitSeconds, "%.2f")
        if r.probeFailures > 0 { probe += " (\(r.probeFailures) failed)" }
        return [
            "\(r.workers)", figure(r.seconds, "%.1f"), figure(r.messagesPerSecond, "%.0f"),
            figure(r.firstArchiveMessagesPerSecond, "%.0f"), figure(r.lastArchiveMessagesPerSecond, "%.0f"),
            figure(r.indexToFirstImportSeconds, "%.2f"), figure(r.longestWriteLockSeconds, "%.2f"), probe,
            figure(r.peakResidentMiB, "%.1f"), figure(r.bytesPerMessage, "%.0f"),
        ]
    }

    private func status(_ line: String) {
        if !json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }
}

struct SyncBenchmarkResult: Codable {
    var workers: Int
    var archives: Int
    /// Archived entries read by the imports.
    var entries: Int
    /// Rows in the database after the sync (archive messages and the local copies no archive replaced).
    var messagesStored: Int
    /// From starting the `sync` process to its exit.
    var seconds: Double
    /// `entries` over `seconds`.
    var messagesPerSecond: Double
    var firstArchiveMessagesPerSecond: Double?
    var lastArchiveMessagesPerSecond: Double?
    var indexToFirstImportSeconds: Double?
    var longestWriteLockSeconds: Double
    var probeWrites: Int
    var probeFailures: Int
    /// The longest a chat client's write waited during the sync.
    var probeLongestWaitSeconds: Double
    /// The sync process's own peak (VmHWM), nil where the system does not say.
    var peakResidentMiB: Double?
    var bytesPerMessage: Double
}
