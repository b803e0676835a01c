import ArchiveImport
import ArgumentParser
import ControlNode
import Foundation
import HistoryStore

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

        @Option(help: "Seed; the same seed gives byte-identical output.")
        var seed: UInt64 = 1

        @Option(help: "Weekly archives to generate.")
        var weeks: Int = 9

        @Option(help: "Chat messages per weekly archive.")
        var messagesPerWeek: Int = 600

        @Option(help: "Output directory (replaced).")
        var out: String = "Fixtures/demo-community"

        @OptionGroup var logging: LoggingOptions

        func validate() throws {
            guard weeks >= 6 else { throw ValidationError("--weeks must be at least 6 (the planted cases need them)") }
            guard messagesPerWeek >= 80 else { throw ValidationError("--messages-per-week must be at least 80") }
        }

        func run() async throws {
            logging.bootstrap()
            let url = URL(fileURLWithPath: out)
            try? FileManager.default.removeItem(at: url)
            let generator = FixtureGenerator(configuration: .init(seed: seed, weeks: weeks, messagesPerWeek: messagesPerWeek))
            let summary = try generator.write(to: url)

            // The expected report is what a replay into a new database prints; tests check it
            // against the planted cases independently (ArchiveImportTests).
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fixture-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: scratch) }
            let database = try HistoryDatabase(path: scratch.appendingPathComponent("replay.sqlite").path)
            let report = try Replay(fixture: try FixtureDirectory(url: url), database: database).run()
            try Data(try ReportJSON.encode(report).utf8).write(to: url.appendingPathComponent("expected-report.json"))
            print("wrote \(out): \(summary.archives) archives + \(summary.encryptedArchives) encrypted, "
                  + "\(summary.validMessages) valid messages, index \(summary.indexCID)")
        }
    }
}
