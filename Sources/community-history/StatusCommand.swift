import AgentAPI
import ArchiveImport
import ArgumentParser
import Foundation
import HistoryStore

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Per community: index, archives imported/pending/failed, weeks covered, messages, last success and error.",
        discussion: """
            The weeks line has one character per archive of the community's index, oldest first: \
            # present, . missing (not selected or not fetched yet), ~ pending (downloaded, not imported), \
            ! failed (retried), > over a limit (import with a raised limit), x unreadable (can never be \
            imported as it is), k waiting for a key (an encrypted community's archive: imported once \
            `keys import` brings the key the "keys" line names). --json gives the same, \
            with every time in milliseconds since 1970 (docs/agent-api.openapi.json, History).
            """
    )

    @OptionGroup var database: DatabaseOption
    var db: String { database.path }

    @Flag(help: "Print JSON (schemaVersion 1; times in milliseconds since 1970; absent values null).")
    var json = false

    struct Community {
        var status: CommunityStatus
        var weeks: [ArchiveWeek]
    }

    func run() async throws {
        guard FileManager.default.fileExists(atPath: db) else {
            printError("no database at \(db) (run sync, agent or replay first, or pass --db)")
            throw Exit.databaseError
        }
        let communities: [Community]
        do {
            let history = try HistoryDatabase(path: db, readOnly: true)
            var read: [Community] = []
            for status in try await history.communityStatuses() {
                read.append(Community(status: status, weeks: try await history.weekCoverage(communityID: status.communityID,
                                                                                          decoderRevision: ArchiveImporter.decoderRevision)))
            }
            communities = read
        } catch {
            printError("\(error)")
            throw Exit.databaseError
        }
        if json {
            print(try ReportJSON.encode(Versioned(body: StatusJSON(database: db, communities: communities))))
            return
        }
        if communities.isEmpty { print("no communities in \(db)") }
        let times = HumanTimes(terminal: isatty(STDOUT_FILENO) == 1)
        for community in communities {
            let s = community.status
            let covered = s.coveredFrom.flatMap { from in s.coveredTo.map { to in "\(times.day(seconds: from))..\(times.day(seconds: to))" } } ?? "nothing yet"
            print("""
                \(s.communityID)
                  index     \(s.indexCID ?? "none") (clock \(s.indexClock))\(s.indexCID != nil && s.indexCID == s.processedIndexCID ? ", fully imported" : "")
                  archives  \(s.archivesImported) imported, \(s.archivesPending) pending, \(s.archivesFailed) failed (retried), \(s.archivesOverLimit) over a limit (raise it to import), \(s.archivesUnimportable) cannot be imported
                  weeks     \(Self.weeksLine(community.weeks, times: times))
                  covered   \(covered)
                  messages  \(s.messageCount)
                  last ok   \(s.lastSuccessAt.map { times.moment(milliseconds: $0) } ?? "never")
                  error     \(s.lastError ?? "none")
                """)
            for wait in s.keyWaits {
                print("  keys      \(wait.kind.rawValue) \(wait.item.prefix(18))… waits for key \(wait.keyID) of group \(wait.groupID) "
                      + "since \(times.moment(milliseconds: wait.since))")
            }
        }
    }

    /// `2026-05-28 [########x] 2026-07-30 (8 present, 1 unreadable)`
    static func weeksLine(_ weeks: [ArchiveWeek], times: HumanTimes) -> String {
        guard let first = weeks.first, let last = weeks.last else { return "no index recorded yet" }
        let counts = ArchiveWeek.State.allCases.compactMap { state -> String? in
            let count = weeks.filter { $0.state == state }.count
            return count == 0 ? nil : "\(count) \(state.rawValue)"
        }
        return "\(times.day(seconds: first.from)) [\(String(weeks.map(\.state.symbol)))] \(times.day(seconds: last.to)) (\(counts.joined(separator: ", ")))"
    }
}

/// `status --json`: `{"schemaVersion": 1, "database": …, "communities": [{communityID, the API's history fields, weeks}]}`.
struct StatusJSON: Encodable {
    var database: String
    var communities: [StatusCommand.Community]

    enum Keys: String, CodingKey { case database, communities }
    enum CommunityKeys: String, CodingKey { case communityID, weeks }
    enum WeekKeys: String, CodingKey { case archiveID, from, to, state }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(database, forKey: .database)
        var list = container.nestedUnkeyedContainer(forKey: .communities)
        for community in communities {
            let item = list.superEncoder()
            var keyed = item.container(keyedBy: CommunityKeys.self)
            try keyed.encode(community.status.communityID, forKey: .communityID)
            try HistoryView(status: community.status).encode(to: item)
            var weeks = keyed.nestedUnkeyedContainer(forKey: .weeks)
            for week in community.weeks {
                var entry = weeks.nestedContainer(keyedBy: WeekKeys.self)
                try entry.encode(week.archiveID, forKey: .archiveID)
                try entry.encode(week.from * 1000, forKey: .from)
                try entry.encode(week.to * 1000, forKey: .to)
                try entry.encode(week.state.rawValue, forKey: .state)
            }
        }
    }
}

/// Times for people on a terminal (local time, and how long ago), and ISO 8601 UTC otherwise
/// (a script or a log reads those back).
struct HumanTimes {
    let terminal: Bool
    var now = Date()

    func day(seconds: UInt64) -> String {
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = terminal ? .current : TimeZone(identifier: "UTC")
        format.dateFormat = "yyyy-MM-dd"
        return format.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    func moment(milliseconds: Int64) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000)
        guard terminal else { return ISO8601DateFormatter().string(from: date) }
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.dateFormat = "yyyy-MM-dd HH:mm"
        return "\(format.string(from: date)) (\(Self.ago(now.timeIntervalSince(date))))"
    }

    static func ago(_ seconds: TimeInterval) -> String {
        switch seconds {
        case ..<0: return "in the future"
        case ..<60: return "just now"
        case ..<3600: return "\(Int(seconds / 60)) min ago"
        case ..<86_400: return "\(Int(seconds / 3600)) h ago"
        default: return "\(Int(seconds / 86_400)) days ago"
        }
    }
}
