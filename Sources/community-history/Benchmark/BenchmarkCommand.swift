import ArchiveImport
import ArgumentParser
import ControlNode
import Foundation
import HistoryStore
import OneShot
import PeerHTTP
import SyncEngine

#if canImport(Glibc)
import Glibc
#endif

/// Measures decode + verify + hydrate throughput and peak memory. Each size runs in two
/// fresh child processes (prepare, then import), so the import's peak resident memory is its
/// own and not the generator's.
struct BenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "benchmark",
        abstract: "Measure the import (`run`: one generated archive, half of it already stored as local copies) and a whole `sync` from the demo nodes (`sync`).",
        discussion: "Build with -c release for meaningful figures. The import child is pinned to one core when taskset is available.",
        subcommands: [Run.self, SyncBenchmarkCommand.self, ApplyBenchmarkCommand.self, AgentBenchmarkCommand.self, Prepare.self, Import.self],
        defaultSubcommand: Run.self
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run", abstract: "Run every size and print a table.")

        @Option(name: .customLong("messages"), help: "Archive sizes in messages (repeatable).")
        var sizes: [Int] = [100_000, 250_000]

        @Option(name: .customLong("workers"), help: "Verification threads (repeatable; default 1 and one per core). One worker is pinned to one core.")
        var workerCounts: [Int] = Array(Set([1, ArchiveImportOptions.defaultVerificationWorkers])).sorted()

        @Option(help: "Working directory for archives and databases (default: a temporary directory).")
        var workDir: String?

        @Flag(help: "Print the results as JSON.")
        var json = false

        func run() async throws {
            let base = URL(fileURLWithPath: workDir ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("community-history-benchmark-\(getpid())").path)
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            defer { if workDir == nil { try? FileManager.default.removeItem(at: base) } }
            var results: [BenchmarkResult] = []
            for size in sizes {
                for workers in workerCounts {
                    // A fresh archive and database for every run: an import changes the database.
                    let directory = base.appendingPathComponent("\(size)-\(workers)")
                    try? FileManager.default.removeItem(at: directory)
                    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                    if !json { FileHandle.standardError.write(Data("preparing \(size) messages…\n".utf8)) }
                    _ = try runChild(["benchmark", "prepare", "--messages", "\(size)", "--dir", directory.path], pinned: false)
                    if !json { FileHandle.standardError.write(Data("importing \(size) messages with \(workers) worker(s)…\n".utf8)) }
                    let output = try runChild(["benchmark", "import", "--dir", directory.path, "--workers", "\(workers)"], pinned: workers == 1)
                    results.append(try JSONDecoder().decode(BenchmarkResult.self, from: output))
                }
            }
            if json {
                print(try ReportJSON.encode(results))
                return
            }
            print("decode + verify + hydrate (replace mode, half the messages already stored as local copies)")
            print(pad("messages", 10) + pad("workers", 9) + pad("archive MiB", 13) + pad("seconds", 10) + pad("messages/s", 12)
                  + pad("peak RSS MiB", 14) + pad("write lock s", 14) + "stored/replaced")
            for r in results {
                print(pad("\(r.messages)", 10) + pad("\(r.workers)", 9) + pad(String(format: "%.1f", Double(r.archiveBytes) / 1_048_576), 13)
                      + pad(String(format: "%.2f", r.seconds), 10) + pad(String(format: "%.0f", r.messagesPerSecond), 12)
                      + pad(String(format: "%.1f", r.peakResidentMiB), 14) + pad(String(format: "%.2f", r.writeLockSeconds), 14)
                      + "\(r.stored)/\(r.replaced)")
            }
            print("where the time went (seconds): reading waited for the apply / apply waited for reading / apply held the lock / its CPU meanwhile / "
                  + "apply paused for a client / apply checkpointed or waited for a checkpoint / checkpointed beside the apply (overlapping it); largest WAL MiB")
            for r in results {
                print(pad("\(r.messages)", 10) + pad("\(r.workers)", 9)
                      + [r.stages.readingWaited, r.stages.applyWaited, r.stages.applyHeld, r.stages.applyCPU, r.stages.applyPaused,
                         r.stages.applyCheckpointed, r.stages.checkpointedAside].map { pad(String(format: "%.2f", $0), 8) }.joined()
                      + String(format: "%.1f", r.stages.largestWALMiB))
            }
            let pinned = results.filter { $0.workers == 1 }.allSatisfy(\.pinned)
            print("build: \(Self.buildConfiguration); one-worker imports pinned to one core: \(pinned ? "yes" : "no"); cores: \(ArchiveImportOptions.defaultVerificationWorkers)")
        }

        private func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
        }

        static var buildConfiguration: String {
            #if DEBUG
            return "debug (use `swift run -c release` for real figures)"
            #else
            return "release"
            #endif
        }

        private func runChild(_ arguments: [String], pinned: Bool) throws -> Data {
            let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            let process = Process()
            let taskset = "/usr/bin/taskset"
            if pinned && FileManager.default.isExecutableFile(atPath: taskset) {
                process.executableURL = URL(fileURLWithPath: taskset)
                process.arguments = ["-c", "0", executable] + arguments + ["--pinned"]
            } else {
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments
            }
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw ValidationError("benchmark step \(arguments.joined(separator: " ")) failed with status \(process.terminationStatus)")
            }
            return output
        }
    }

    struct Prepare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prepare", abstract: "Write the archive and the local copies.", shouldDisplay: false)
        @Option var messages: Int
        @Option var dir: String

        func run() async throws {
            let database = try HistoryDatabase(path: dir + "/history.sqlite")
            try await BenchmarkArchive().write(count: messages, to: dir + "/archive.bin", localCopiesIn: database)
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "import", abstract: "Import the archive and print one JSON result.", shouldDisplay: false)
        @Option var dir: String
        @Option var workers = 1
        @Flag var pinned = false

        func run() async throws {
            let database = try HistoryDatabase(path: dir + "/history.sqlite")
            let importer = ArchiveImporter(database: database, communityID: BenchmarkArchive().community.communityID)
            let path = dir + "/archive.bin"
            let clock = ContinuousClock()
            let started = clock.now
            let result = try await importer.importArchive(BenchmarkArchive().entry, path: path,
                                                          options: ArchiveImportOptions(verificationWorkers: workers))
            let elapsed = clock.now - started
            let seconds = elapsed.inSeconds
            let archiveBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            let output = BenchmarkResult(
                messages: result.entries, archiveBytes: archiveBytes, seconds: seconds,
                messagesPerSecond: Double(result.entries) / seconds, peakResidentMiB: ProcessMemory.peakResidentMiB() ?? 0,
                stored: result.counts.stored, replaced: result.counts.replaced, workers: workers, pinned: pinned,
                writeLockSeconds: database.importWriteLockHolds.longest.inSeconds, stages: BenchmarkStages(database.importStageTimes))
            print(String(decoding: try JSONEncoder().encode(output), as: UTF8.self))
        }
    }
}

struct BenchmarkResult: Codable {
    var messages: Int
    var archiveBytes: Int
    var seconds: Double
    var messagesPerSecond: Double
    var peakResidentMiB: Double
    var stored: Int
    var replaced: Int
    var workers: Int
    var pinned: Bool
    /// How long the import held the database's write lock: what a chat client's write waited at most.
    var writeLockSeconds: Double
    var stages: BenchmarkStages
}

/// `ImportStageTimes` in seconds: which side of the import's handoff waited for the other.
struct BenchmarkStages: Codable {
    var readingWaited: Double
    var applyWaited: Double
    var applyHeld: Double
    var applyCPU: Double
    var applyPaused: Double
    var applyCheckpointed: Double
    var checkpointedAside: Double
    var largestWALMiB: Double

    init(_ times: ImportStageTimes) {
        readingWaited = times.readingWaited.inSeconds
        applyWaited = times.applyWaited.inSeconds
        applyHeld = times.applyHeld.inSeconds
        applyCPU = times.applyCPU.inSeconds
        applyPaused = times.applyPaused.inSeconds
        applyCheckpointed = times.applyCheckpointed.inSeconds
        checkpointedAside = times.checkpointedAside.inSeconds
        largestWALMiB = Double(times.largestWALBytes) / 1_048_576
    }
}
