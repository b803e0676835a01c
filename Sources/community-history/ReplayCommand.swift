import ArchiveImport
import ArgumentParser
import Foundation
import HistoryStore
import Logging
import StatusWire

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Decode, verify and import a fixture directory's archives into a database, offline.",
        discussion: """
            The directory holds manifest.json, blobs/<CID> (index and archives) and optionally \
            local-messages.json (see README.md, "Fixture layout"). Local copies are seeded only \
            into a database that has nothing of the community yet.
            """
    )

    @Argument(help: "Fixture directory.")
    var directory: String = "Fixtures/demo-community"

    @Option(help: "SQLite database to hydrate (created when missing).")
    var db: String = "history.sqlite"

    @Option(help: "replace: archives are canonical (the spec). merge: only add missing messages (status-go).")
    var mode: HydrationMode = .replace

    @Flag(help: "Import archives again even if already imported.")
    var force = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "A stored JSON report; exit 1 when this run's report differs.")
    var expect: String?

    @OptionGroup var limits: LimitOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        logging.bootstrap()
        let lock = try takeSyncLock(databasePath: db, command: "replay")
        defer { lock.release() }
        let report: ReplayReport
        do {
            let fixture = try FixtureDirectory(url: URL(fileURLWithPath: directory))
            let database = try HistoryDatabase(path: db)
            let options = ArchiveImportOptions(mode: mode, limits: limits.limits, force: force)
            report = try Replay(fixture: fixture, database: database, options: options).run()
        } catch let error as HistoryStoreError {
            printError(error.description)
            throw Exit.databaseError
        } catch where HistoryStoreError.isDatabaseFailure(error) {
            printError("database \(db): \(error)")
            throw Exit.databaseError
        } catch {
            printError("\(error)")
            throw Exit.badInput
        }

        print(json ? try ReportJSON.encode(report) : report.text)

        if let expect {
            guard let data = FileManager.default.contents(atPath: expect) else {
                printError("cannot read the expected report \(expect)")
                throw Exit.badInput
            }
            let expected = try JSONDecoder().decode(ReplayReport.self, from: data)
            if expected != report {
                printError("the report differs from \(expect)")
                printError(ReportJSON.difference(expected: expected, actual: report))
                throw Exit.expectationMismatch
            }
            if !json { print("matches \(expect)") }
        }
    }
}

enum ReportJSON {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// The lines that differ between two reports' JSON, for a readable mismatch message.
    static func difference(expected: ReplayReport, actual: ReplayReport) -> String {
        let left = ((try? encode(expected)) ?? "").split(separator: "\n")
        let right = ((try? encode(actual)) ?? "").split(separator: "\n")
        var lines: [String] = []
        for i in 0..<max(left.count, right.count) {
            let l = i < left.count ? String(left[i]) : ""
            let r = i < right.count ? String(right[i]) : ""
            if l != r { lines.append("  expected: \(l.trimmingCharacters(in: .whitespaces))\n  actual:   \(r.trimmingCharacters(in: .whitespaces))") }
            if lines.count >= 10 { break }
        }
        return lines.joined(separator: "\n")
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
}
