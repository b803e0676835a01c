import ArgumentParser
import HistoryStore

@main
struct CommunityHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "community-history",
        abstract: "A Status community's complete message history from Codex archives.",
        discussion: """
            Exit codes: 0 success; 1 the report differs from --expect; 2 a sync ended with failed \
            archives; 3 unusable input (fixture, manifest, index, community ID); 4 database error; \
            5 a peer (Codex or nwaku node) is unreachable; 6 doctor: a check failed; 7 another process \
            (sync, agent or replay) holds the database's lock; 64 bad command-line usage.
            """,
        subcommands: [DemoCommand.self, DemoNetworkCommand.self, SyncCommand.self, AgentCommand.self, StatusCommand.self, MessagesCommand.self, DoctorCommand.self, CodexCIDCommand.self, ReplayCommand.self, ControlNodeCommand.self, BenchmarkCommand.self]
    )
}

/// Exit codes shared by the commands (also listed in README.md).
enum Exit {
    static let expectationMismatch = ExitCode(1)
    static let partialFailure = ExitCode(2)
    static let badInput = ExitCode(3)
    static let databaseError = ExitCode(4)
    static let peerUnreachable = ExitCode(5)
    static let checkFailed = ExitCode(6)
    static let lockHeld = ExitCode(7)
}

/// Takes the database's `SyncLock` for a command that writes history, or exits 7 naming the
/// process that holds it.
func takeSyncLock(databasePath: String, command: String) throws -> SyncLock {
    do { return try SyncLock(databasePath: databasePath, command: command) } catch let error as SyncLockError {
        printError(error.description)
        if case .cannotOpen = error { throw Exit.databaseError }
        throw Exit.lockHeld
    }
}
