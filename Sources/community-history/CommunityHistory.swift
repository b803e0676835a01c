import ArchiveImport
import ArgumentParser
import Foundation
import HistoryStore
#if canImport(Glibc)
import CMalloc
import Glibc
#endif

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
        version: versionDescription,
        subcommands: [DemoCommand.self, DemoNetworkCommand.self, SyncCommand.self, AgentCommand.self, StatusCommand.self, MessagesCommand.self, KeysCommand.self, DoctorCommand.self, CodexCIDCommand.self, ReplayCommand.self, ControlNodeCommand.self, BenchmarkCommand.self]
    )

    /// This build's version. Bump it with each release; the database schema and the archive
    /// decoder revision it prints say what a bug report most needs to know besides.
    static let version = "0.1.0"

    /// What `community-history --version` prints.
    static var versionDescription: String {
        "\(version) (database schema \(HistoryDatabase.knownMigrations.last ?? "none"), "
            + "archive decoder revision \(ArchiveImporter.decoderRevision))"
    }

    /// argument-parser's own `main`, after one setting that must come before threads start.
    static func main() async {
        limitMallocArenas()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error).rawValue
            // --help and --version end "with an error" of code 0: printed as usual.
            if ErrorOutput.json && code != 0 {
                // A command's own errors were kept; any other error (a bad command line, one no
                // command caught) says itself, under the code its exit has.
                ErrorOutput.finish(exitCode: code, unexpected: error is ExitCode ? nil : fullMessage(for: error))
                Foundation.exit(code)
            }
            exit(withError: error)
        }
        ErrorOutput.finish(exitCode: 0)
    }

    /// glibc gives each thread that allocates while another holds the lock an arena of its own
    /// (up to 8 per core), and memory freed in one is not reused by another. An import's threads
    /// (verification, reading, the writer, the next archive's verification) then kept more than
    /// they used: the 1,000,000-message `benchmark sync` peaked at 101.6-118.1 MiB, and at 86.6
    /// MiB with two arenas (`mallopt(3)`, `M_ARENA_MAX`; the same as `MALLOC_ARENA_MAX=2`, which
    /// still wins when set).
    private static func limitMallocArenas() {
        #if canImport(Glibc)
        guard getenv("MALLOC_ARENA_MAX") == nil else { return }
        _ = mallopt(M_ARENA_MAX, 2)
        #endif
    }
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
    do { try DefaultPaths.prepareForWriting(databasePath) } catch {
        printError("cannot make the directory of \(databasePath): \(error)")
        throw Exit.databaseError
    }
    do { return try SyncLock(databasePath: databasePath, command: command) } catch let error as SyncLockError {
        printError(error.description)
        if case .cannotOpen = error { throw Exit.databaseError }
        throw Exit.lockHeld
    }
}
