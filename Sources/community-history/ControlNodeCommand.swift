import ArchiveImport
import ArgumentParser
import ControlNode
import Fixtures
import Foundation
import GroupKeys
import HistoryStore
import StatusWire

struct ControlNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control-node",
        abstract: "The control node's side: build a community's archives, index and CIDs.",
        subcommands: [GenerateFixtures.self]
    )

    struct GenerateFixtures: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate-fixtures",
            abstract: "Generate a fixture community from a seed, with its expected replay report."
        )

        @Option(help: "Seed; the same seed gives byte-identical output (default: 1; 3 with --encrypted).")
        var seed: UInt64?

        @Option(help: "Weekly archives to generate (default: 9; 4 with --encrypted).")
        var weeks: Int?

        @Option(help: "Chat messages per weekly archive (default: 600; 60 with --encrypted).")
        var messagesPerWeek: Int?

        @Flag(help: "An encrypted community: archives, index and some messages hash-ratchet encrypted, the key rotated mid-history, the keys in keys.jsonl (the bundled one is Fixtures/encrypted-community).")
        var encrypted = false

        @Option(help: "Output directory: new, empty, or a fixture to replace (the bundled one is Fixtures/demo-community).")
        var out: String

        @Option(help: "The storage node generation's manifest layout the CIDs are written in: \(CodexManifestLayout.allValueStrings.joined(separator: ", ")) (default: \(CodexManifestLayout.current)).")
        var layout: CodexManifestLayout = .current

        @Flag(help: "Replace --out even when it holds something that is not a fixture.")
        var force = false

        @OptionGroup var logging: LoggingOptions

        func validate() throws {
            if encrypted {
                guard (weeks ?? 4) >= 2 else { throw ValidationError("--weeks must be at least 2 with --encrypted (the key is rotated inside the history)") }
                guard (messagesPerWeek ?? 60) >= 1 else { throw ValidationError("--messages-per-week must be at least 1") }
            } else {
                guard (weeks ?? 9) >= 6 else { throw ValidationError("--weeks must be at least 6 (the planted cases need them)") }
                guard (messagesPerWeek ?? 600) >= 80 else { throw ValidationError("--messages-per-week must be at least 80") }
            }
        }

        func run() async throws {
            logging.bootstrap()
            let url = URL(fileURLWithPath: out)
            try clear(url)
            if encrypted { return try await writeEncrypted(url) }
            let generator = FixtureGenerator(configuration: .init(seed: seed ?? 1, weeks: weeks ?? 9, messagesPerWeek: messagesPerWeek ?? 600, layout: layout))
            let summary = try generator.write(to: url)

            // The expected report is what a replay into a new database prints; tests check it
            // against the planted cases independently (ArchiveImportTests).
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fixture-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: scratch) }
            let database = try HistoryDatabase(path: scratch.appendingPathComponent("replay.sqlite").path)
            let report = try await Replay(fixture: try FixtureDirectory(url: url), database: database).run()
            try Data(try ReportJSON.encode(report).utf8).write(to: url.appendingPathComponent("expected-report.json"))
            print("wrote \(out): \(summary.archives) archives + \(summary.encryptedArchives) encrypted, "
                  + "\(summary.validMessages) valid messages, index \(summary.indexCID) (\(layout) manifest layout)")
        }

        /// An encrypted community, and what a replay with its keys (keys.jsonl) prints.
        private func writeEncrypted(_ url: URL) async throws {
            let weeks = weeks ?? 4
            let generator = EncryptedFixtureGenerator(configuration: .init(
                seed: seed ?? 3, weeks: weeks, messagesPerWeek: messagesPerWeek ?? 60, rotationWeek: weeks / 2, layout: layout))
            let summary = try generator.write(to: url)
            let keys = try GroupKeyStore.parseImport(try Data(contentsOf: url.appendingPathComponent(EncryptedFixtureGenerator.keysFile)))
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fixture-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: scratch) }
            let database = try HistoryDatabase(path: scratch.appendingPathComponent("replay.sqlite").path)
            let report = try await Replay(fixture: try FixtureDirectory(url: url), database: database,
                                    options: ArchiveImportOptions(keys: GroupKeyRing(keys))).run()
            try Data(try ReportJSON.encode(report).utf8).write(to: url.appendingPathComponent("expected-report.json"))
            print("wrote \(out): \(summary.archiveKeys.count) encrypted archives, \(summary.validMessages) valid messages "
                  + "(\(summary.encryptedMessages) encrypted), \(summary.keyIDs.count) keys in \(EncryptedFixtureGenerator.keysFile) "
                  + "(expected-report.json is a replay with them), index \(summary.indexCID)")
        }

        /// Empties `url` for the new fixture: a missing or empty directory, or one that holds a
        /// fixture (a manifest.json that reads as one). Anything else is refused without `--force`,
        /// so `--out .` cannot wipe a working directory.
        private func clear(_ url: URL) throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return }
            guard isDirectory.boolValue else {
                printError("--out \(out) is a file, not a directory")
                throw Exit.badInput
            }
            let contents = try FileManager.default.contentsOfDirectory(atPath: url.path)
            if contents.isEmpty { return }
            guard force || (try? FixtureDirectory(url: url)) != nil else {
                printError("--out \(out) is not empty and holds no fixture (\(contents.count) entries, no fixture manifest.json); "
                           + "nothing was changed. Choose a new directory, or pass --force to replace its contents.")
                throw Exit.badInput
            }
            for name in contents {
                do { try FileManager.default.removeItem(at: url.appendingPathComponent(name)) } catch {
                    printError("cannot clear \(out): \(error)")
                    throw Exit.badInput
                }
            }
        }
    }
}
