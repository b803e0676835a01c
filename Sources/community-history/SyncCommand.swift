import AgentAPI
import ArchiveImport
import ArgumentParser
import CodexClient
import Foundation
import HistoryStore
import OneShot
import PeerDoctor
import PeerHTTP
import StatusWire
import SyncEngine
import WakuClient
import StatusCrypto

/// Options that say which archives a sync wants.
struct SelectionOptions: ParsableArguments {
    enum Mode: String, ExpressibleByArgument, CaseIterable { case all, latest, range }

    @Option(help: "Which archives: all (every missing one), latest (the newest), or range (with --from/--to).")
    var mode: Mode = .all

    @Option(help: "Start of the range (ISO 8601 date or date-time, or unix seconds), with --mode range.")
    var from: String?

    @Option(help: "End of the range (exclusive), with --mode range.")
    var to: String?

    func selection() throws -> ArchiveSelection {
        switch mode {
        case .all: return .all
        case .latest: return .latest
        case .range:
            guard let from, let to else { throw ValidationError("--mode range needs --from and --to") }
            let start = try Self.parseDate(from, option: "--from"), end = try Self.parseDate(to, option: "--to")
            guard start < end else { throw ValidationError("--from must be before --to") }
            return .range(from: start, to: end)
        }
    }

    func validate() throws {
        if mode != .range && (from != nil || to != nil) { throw ValidationError("--from/--to need --mode range") }
        _ = try selection()
    }

    static func parseDate(_ text: String, option: String) throws -> UInt64 {
        guard let seconds = DateParsing.unixSeconds(text) else {
            throw ValidationError("\(option) \"\(text)\" is not a date (use 2026-11-01, 2026-11-01T12:00:00Z or unix seconds)")
        }
        return seconds
    }
}

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "One shot: find the newest archive announcement, download and import the archives, report.",
        discussion: """
            Queries the nwaku node's store for the community's archive channels (-magnetlinks and \
            -memberUpdate) over the last 30 days, accepts only announcements signed by the community \
            key, waits the quiet window after the last one, fetches the index from the Codex node, \
            and downloads and imports the selected archives. Archives that can never be imported as \
            they are (their content fails verification, or they are over --max-archive-bytes) are \
            listed with a warning and do not make the sync fail. After a sync with --mode latest or \
            range, --mode all fetches the same index again; --rescan does so whatever was done before.

            Exit codes: 0 everything importable is imported (or nothing to do); 2 some archives failed \
            and a later run may import them; 3 bad input; 4 database error (busy, full, read-only); \
            5 a peer (the Codex or nwaku node) is unreachable; 7 another process syncs this database.
            """
    )

    @Option(help: "Community ID: 0x + 66 hex digits (the community's compressed public key).")
    var community: String

    @OptionGroup var peers: PeerOptions

    @OptionGroup var database: DatabaseOption
    var db: String { database.path }

    @Option(help: "Where downloaded archives wait for import (default: <db>.archives).")
    var archivesDir: String?

    @OptionGroup var selection: SelectionOptions

    @Option(help: "replace: archives are canonical for their range (the spec); merge: add what is missing (status-go).")
    var hydration: HydrationMode = .replace

    @Option(help: "Seconds to wait after the last announcement before acting (the spec's 20).")
    var settle: Double = 20

    @Option(help: "Archives downloaded at the same time.")
    var concurrency: Int = 3

    @Option(help: "Threads that verify an archive's signatures (default: one per core).")
    var workers: Int = ArchiveImportOptions.defaultVerificationWorkers

    @Option(help: "How often a failed plan is retried after backing off before giving up.")
    var retries: Int = 2

    @Option(help: "The slowest a download may be, bytes per second over 64 s; a node under it (stalled, trickling) is left for a retry. 0: no minimum.")
    var minDownloadRate: Int64 = MinimumTransferRate.default.bytesPerSecond

    @Flag(help: "Fetch the newest announced index again even if it was fully imported, and import every selected archive missing from the database.")
    var rescan = false

    @Flag(help: "Add a SHA-256 digest of the community's whole message history to the report (reads every row; to compare two databases).")
    var digest = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @OptionGroup var limits: LimitOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        do { try SecondsSetting.check(settle, "--settle", in: SecondsSetting.settle) } catch { throw ValidationError("\(error)") }
        let range = CommunitySyncMachine.Configuration.concurrentDownloadsRange
        guard range.contains(concurrency) else {
            throw ValidationError("--concurrency must be between \(range.lowerBound) and \(range.upperBound), not \(concurrency)")
        }
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        guard minDownloadRate >= 0 else { throw ValidationError("--min-download-rate must not be negative (0 turns it off)") }
        guard retries >= 0 else { throw ValidationError("--retries must not be negative") }
    }

    func run() async throws {
        let communityID: CommunityID
        do { communityID = try CommunityID(community) } catch {
            printError("\(error)")
            throw Exit.badInput
        }
        let progress = ProgressPrinter(enabled: !json && !logging.quiet, maxAttempts: retries + 1)
        logging.bootstrap(progress: progress)
        let lock = try takeSyncLock(databasePath: db, command: "sync")
        defer { lock.release() }
        let database: HistoryDatabase
        do { database = try HistoryDatabase(path: db) } catch {
            printError("\(error)")
            throw Exit.databaseError
        }
        var options = OneShotSync.Options(
            communityID: communityID, selection: try selection.selection(), quietWindow: SecondsSetting.duration(settle),
            maxConcurrentDownloads: concurrency, hydration: hydration, limits: limits.limits, pubsubTopic: peers.pubsubTopic,
            storePeer: peers.storePeer, retries: retries, archivesDirectory: URL(fileURLWithPath: archivesDir ?? db + ".archives"),
            rescan: rescan, digest: digest)
        options.verificationWorkers = workers
        options.keys = try KeysCommand.keyring(forDatabase: db)
        try await Self.runSync(options: options, waku: WakuClient(baseURL: peers.waku),
                               codex: CodexClient(baseURL: peers.codex, apiPrefix: peers.storageAPI, minimumTransferRate: minimumTransferRate), database: database, json: json,
                               progress: progress)
    }

    var minimumTransferRate: MinimumTransferRate? {
        minDownloadRate == 0 ? nil : MinimumTransferRate(bytesPerSecond: minDownloadRate, window: MinimumTransferRate.default.window)
    }

    /// Runs a sync and prints progress and the report; shared with `demo`.
    static func runSync(options: OneShotSync.Options, waku: WakuClient, codex: CodexClient, database: HistoryDatabase, json: Bool,
                        progress: ProgressPrinter) async throws {
        let report: SyncReport
        do {
            // Runs before the catch clauses: an error message starts below the progress block.
            defer { progress.finish() }
            progress.line("listening: store query on the archive channels, then \(options.quietWindow) quiet window")
            report = try await OneShotSync(options: options, waku: waku, codex: codex, database: database).run { progress.show($0) }
        } catch let error as PeerError {
            printError(error.description)
            await printFixes(options: options, waku: waku, codex: codex)
            throw Exit.peerUnreachable
        } catch let error as StoreError {
            printError(error.description)
            await printFixes(options: options, waku: waku, codex: codex)
            throw Exit.peerUnreachable
        } catch {
            guard let failure = DatabaseFailure(error) else { throw error }
            printError("database: \(failure): \(error)")
            printError("fix: \(failure.fix)")
            throw Exit.databaseError
        }
        print(json ? try ReportJSON.encode(Versioned(body: report)) : report.text)
        switch report.outcome {
        case .completed, .upToDate, .noAnnouncement:
            return
        case .failed(.waitingForKey, _):
            // Not a peer's failure: nothing to check, and nothing a retry does without the key.
            printError("the index is encrypted with a key this member does not hold: import it with "
                       + "`community-history keys import FILE` (from the chat client), then sync again")
            throw Exit.partialFailure
        case .failed(let cause, _):
            await printFixes(options: options, waku: waku, codex: codex)
            switch cause {
            case .waitingForKey: throw Exit.partialFailure
            case .database: throw Exit.databaseError
            case .peerUnreachable: throw Exit.peerUnreachable
            case .archivesFailed: throw Exit.partialFailure
            }
        }
    }

    /// After a failure: the `doctor` checks of both peers, and the fix of each that fails.
    static func printFixes(options: OneShotSync.Options, waku: WakuClient, codex: CodexClient) async {
        let checks = PeerCheck(waku: waku, codex: codex, storePeer: options.storePeer)
        // No relay check: a one-shot sync does not subscribe the user's node to anything.
        for result in await checks.network(pubsubTopic: options.pubsubTopic, includeRelay: false) where !result.passed {
            printError("check failed: \(result.name): \(result.detail)\n  fix: \(result.fix ?? "")")
        }
    }
}
