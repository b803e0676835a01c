import ArchiveImport
import ArgumentParser
import Fixtures
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

    @Argument(help: "Fixture directory (default: the bundled community, found from any directory).")
    var directory: String?

    @OptionGroup var database: DatabaseOption
    /// The bundled community goes into `demo-history.sqlite`, as `demo`'s does: never into the
    /// user's history ($COMMUNITY_HISTORY_DB, the XDG default) unless `--db` says so.
    var db: String { database.explicitPath ?? (directory == nil ? DefaultPaths.dataDirectory + "/demo-history.sqlite" : database.path) }

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
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("community-history-replay-\(UUID().uuidString)")
            defer { removeScratch(scratch) }
            let fixture = try FixtureDirectory(url: try directory.map { URL(fileURLWithPath: $0) } ?? BundledFixture.locate(scratch: scratch))
            let database = try HistoryDatabase(path: db)
            let options = ArchiveImportOptions(mode: mode, limits: limits.limits, force: force, keys: try KeysCommand.keyring(forDatabase: db))
            report = try await Replay(fixture: fixture, database: database, options: options).run()
        } catch let error as ArchiveDecodingError {
            if case .waitingForKey = error {
                // An encrypted community's index: nothing to replay until its key is imported.
                printError("\(error); import it with `community-history keys import FILE --db \(db)`, then replay again")
                throw Exit.partialFailure
            }
            printError("the fixture's index: \(error)")
            throw Exit.badInput
        } catch let failure as ArchiveImportFailure {
            // The replay stopped at an archive for a reason that is not the archive's.
            switch failure {
            case .database(let database, let detail):
                printError("database \(db): \(database): \(detail)")
                printError("fix: \(database.fix)")
                throw Exit.databaseError
            default:
                printError("an archive of the fixture could not be imported: \(failure)")
                throw Exit.badInput
            }
        } catch let error as HistoryStoreError {
            printError(error.description)
            throw Exit.databaseError
        } catch {
            guard let failure = DatabaseFailure(error) else {
                printError("\(error)")
                throw Exit.badInput
            }
            printError("database \(db): \(failure): \(error)")
            printError("fix: \(failure.fix)")
            throw Exit.databaseError
        }

        print(json ? try ReportJSON.encode(report) : report.text)

        if let expect {
            guard let data = FileManager.default.contents(atPath: expect) else {
                printError("cannot read the expected report \(expect)")
                throw Exit.badInput
            }
            let expected: ReplayReport
            do { expected = try JSONDecoder().decode(ReplayReport.self, from: data) } catch {
                printError("\(expect) is not a replay report (replay --json writes one): \(error)")
                throw Exit.badInput
            }
            if expected != report {
                let differences = try ReportJSON.difference(expected: expected, actual: report)
                printError("the report differs from \(expect) at \(differences.count) key path\(differences.count == 1 ? "" : "s"):\n"
                           + differences.prefix(50).map { "  " + $0 }.joined(separator: "\n")
                           + (differences.count > 50 ? "\n  … and \(differences.count - 50) more" : ""))
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

    /// Where two reports differ, one line per key path with both values, in key order:
    /// `archives.imported: expected 9, got 8`, `results[2].counts.stored: expected 600, got 599`.
    static func difference<T: Encodable>(expected: T, actual: T) throws -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let left = try JSONSerialization.jsonObject(with: encoder.encode(expected), options: [.fragmentsAllowed])
        let right = try JSONSerialization.jsonObject(with: encoder.encode(actual), options: [.fragmentsAllowed])
        var lines: [String] = []
        difference(left, right, at: "", into: &lines)
        return lines
    }

    private static func difference(_ expected: Any?, _ actual: Any?, at path: String, into lines: inout [String]) {
        switch (expected, actual) {
        case (let left as [String: Any], let right as [String: Any]):
            for key in Set(left.keys).union(right.keys).sorted() {
                difference(left[key], right[key], at: path.isEmpty ? key : path + "." + key, into: &lines)
            }
        case (let left as [Any], let right as [Any]):
            for index in 0..<max(left.count, right.count) {
                difference(index < left.count ? left[index] : nil, index < right.count ? right[index] : nil, at: path + "[\(index)]", into: &lines)
            }
        default:
            let (left, right) = (render(expected), render(actual))
            if left != right { lines.append("\(path.isEmpty ? "(the report)" : path): expected \(left), got \(right)") }
        }
    }

    /// A value as JSON text (`absent` for a key one side does not have).
    private static func render(_ value: Any?) -> String {
        guard let value else { return "absent" }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]) else {
            return "\(value)"
        }
        return String(decoding: data, as: UTF8.self)
    }
}
