import ArgumentParser
import Foundation
import HistoryStore

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Per community: last index CID and clock, archives imported/pending/failed, time covered, messages, last error."
    )

    @Option(help: "SQLite database.")
    var db: String = "history.sqlite"

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        guard FileManager.default.fileExists(atPath: db) else {
            printError("no database at \(db) (run sync, agent or replay first, or pass --db)")
            throw Exit.databaseError
        }
        let statuses: [CommunityStatus]
        do { statuses = try HistoryDatabase(path: db, readOnly: true).communityStatuses() } catch {
            printError("\(error)")
            throw Exit.databaseError
        }
        if json {
            print(try ReportJSON.encode(statuses))
            return
        }
        if statuses.isEmpty { print("no communities in \(db)") }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        for s in statuses {
            let covered = s.coveredFrom.flatMap { from in s.coveredTo.map { to in
                "\(day.string(from: Date(timeIntervalSince1970: TimeInterval(from))))..\(day.string(from: Date(timeIntervalSince1970: TimeInterval(to))))"
            } } ?? "nothing yet"
            print("""
                \(s.communityID)
                  index     \(s.indexCID ?? "none") (clock \(s.indexClock))\(s.indexCID != nil && s.indexCID == s.processedIndexCID ? ", fully imported" : "")
                  archives  \(s.archivesImported) imported, \(s.archivesPending) pending, \(s.archivesFailed) failed (retried), \(s.archivesOverLimit) over a limit (raise it to import), \(s.archivesUnimportable) cannot be imported
                  covered   \(covered)
                  messages  \(s.messageCount)
                  last ok   \(s.lastSuccessAt.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval($0) / 1000)) } ?? "never")
                  error     \(s.lastError ?? "none")
                """)
        }
    }
}
