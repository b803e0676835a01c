import PeerDoctor
import SyncEngine

extension HistoryAgent {
    /// The metrics of every followed community, and the agent's own (Prometheus text 0.0.4).
    public func prometheusText() -> String {
        let (database, events) = (context.database, context.events)
        return metrics.prometheusText()
            + "# HELP community_history_event_write_failures_total Events that could not be written to the events file.\n"
            + "# TYPE community_history_event_write_failures_total counter\n"
            + "community_history_event_write_failures_total \(events.writeFailures)\n"
            + "# HELP community_history_staging_files_left_total Imports' claim files (in the database's .staging directory) that could not be deleted (the next start removes them).\n"
            + "# TYPE community_history_staging_files_left_total counter\n"
            + "community_history_staging_files_left_total \(database.stagingFilesLeftBehind)\n"
            + "# HELP community_history_import_write_lock_longest_seconds The longest an import held the database's write lock (what a chat client's write waited at most).\n"
            + "# TYPE community_history_import_write_lock_longest_seconds gauge\n"
            + "community_history_import_write_lock_longest_seconds \(database.importWriteLockHolds.longest.inSeconds)\n"
            + "# HELP community_history_event_stream_readers Readers of the local API's event stream.\n"
            + "# TYPE community_history_event_stream_readers gauge\n"
            + "community_history_event_stream_readers \(hub.readerCount)\n"
    }

    /// Whether the agent can do its work now: the storage node and the nwaku node answer, and the
    /// database can be read. Asked each time (health is not a constant).
    public func health() async -> AgentHealth {
        let database = context.database
        let checks = PeerCheck(waku: context.waku, codex: context.codex, storePeer: configuration.storePeer)
        async let codexCheck = checks.codexReachable().result
        async let wakuCheck = checks.wakuHealth()
        var databaseCheck = CheckResult(name: "database readable", passed: true, detail: database.path)
        do { _ = try await database.followedCommunities() } catch {
            databaseCheck = CheckResult(name: "database readable", passed: false, detail: "\(error)", fix: "check \(database.path) and its disk")
        }
        return AgentHealth(checks: [await codexCheck, await wakuCheck, databaseCheck])
    }
}

/// What `health()` found: `ok` when every check passed, `degraded` otherwise (the agent goes on
/// and tries again; the failing check says what to fix).
public struct AgentHealth: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case ok, degraded }
    public var status: Status
    public var checks: [CheckResult]

    public init(checks: [CheckResult]) {
        self.checks = checks
        status = checks.allSatisfy(\.passed) ? .ok : .degraded
    }
}
