import ArchiveImport
import ArgumentParser
import CodexClient
import DemoNetwork
import Fixtures
import Foundation
import HistoryStore
import OneShot
import PeerHTTP
import StatusCrypto
import StatusWire
import SyncEngine
import WakuClient

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start a loopback storage node (Logos Storage, formerly Codex) and nwaku node, publish the bundled fixture community, and sync it.",
        discussion: """
            Everything runs in this process on free 127.0.0.1 ports: the control-node tool uploads the \
            fixture's index and archives to the Codex node and announces the index on the nwaku node \
            (with a forged announcement and an older one beside it); then `sync` runs against both \
            nodes over HTTP exactly as it would against real ones.
            """
    )

    @Option(help: "Fixture directory to publish (default: the bundled community, found from any directory).")
    var fixture: String?

    @Option(name: .customLong("db"), help: ArgumentHelp("SQLite database to hydrate (default: demo-history.sqlite in $XDG_DATA_HOME/community-history; demo-encrypted.sqlite with --encrypted).", valueName: "path"))
    var dbPath: String?
    /// Never $COMMUNITY_HISTORY_DB: the demo must not write its community into the user's history.
    var db: String { dbPath ?? DefaultPaths.dataDirectory + (encrypted ? "/demo-encrypted.sqlite" : "/demo-history.sqlite") }

    @Flag(help: "The encrypted community: its index and archives wait for their keys, then import as keys are imported (no archive downloaded twice).")
    var encrypted = false

    @Option(help: "Quiet window in seconds (sync's default is the spec's 20; the demo waits less).")
    var settle: Double = 3

    @OptionGroup var selection: SelectionOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        do { try SecondsSetting.check(settle, "--settle", in: SecondsSetting.settle) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        let progress = ProgressPrinter(enabled: !json && !logging.quiet, maxAttempts: OneShotSync.Options.defaultRetries + 1)
        logging.bootstrap(progress: progress)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("community-history-demo-\(UUID().uuidString)")
        defer { removeScratch(scratch) }
        if encrypted && dbPath == nil { try startOverEncryptedDemo() }

        let publisher: CommunityPublisher
        let directory: URL
        do {
            directory = try fixture.map { URL(fileURLWithPath: $0) } ?? BundledFixture.locate(scratch: scratch, encrypted: encrypted)
            publisher = try CommunityPublisher(fixture: try FixtureDirectory(url: directory))
        } catch {
            printError("\(error)")
            throw Exit.badInput
        }
        let codexNode = try await DemoCodexNode.start(directory: scratch.appendingPathComponent("codex"))
        let wakuNode = try await DemoWakuNode.start(maxPageSize: 20)
        progress.line("demo storage node (Logos Storage) on \(codexNode.baseURL), demo nwaku node on \(wakuNode.baseURL)")
        do {
            let codex = CodexClient(baseURL: codexNode.baseURL)
            let waku = WakuClient(baseURL: wakuNode.baseURL)
            let uploaded = try await publisher.uploadBlobs(to: codex)
            progress.line("control node: uploaded \(uploaded) blobs (index \(publisher.indexCID) and its archives)")
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            let forger = try PrivateKey(bytes: Keccak256.hash(Array("not the community".utf8)))
            try await publisher.announce(on: waku, clock: now - 60_000, link: "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567",
                                         channel: CommunityChatID.magnetlinks(publisher.community.communityID))
            try await publisher.announce(on: waku, clock: now + 60_000, link: try CID.codex(of: Array("forged".utf8)).manifestCID.string, signer: forger)
            try await publisher.announce(on: waku, clock: now)
            progress.line("control node: announced the index (plus a torrent link and a forged announcement)")
            try await publisher.describe(on: waku, clock: now)
            try await publisher.describe(on: waku, clock: now + 60_000, names: ["forged-general", "forged-dev", "forged-random"], signer: forger)
            progress.line("control node: described the community's channels (plus a forged description)")

            let lock = try takeSyncLock(databasePath: db, command: "demo")
            defer { lock.release() }
            let database = try HistoryDatabase(path: db)
            let options = OneShotSync.Options(
                communityID: publisher.community.communityID, selection: try selection.selection(),
                quietWindow: SecondsSetting.duration(settle), archivesDirectory: scratch.appendingPathComponent("archives"))
            if encrypted {
                try await runEncrypted(fixture: directory, options: options, waku: waku, codex: codex, database: database, progress: progress)
            } else {
                // The bundled fixture's encrypted archive waits for a key the demo does not have.
                try await SyncCommand.runSync(options: options, waku: waku, codex: codex, database: database, json: json, progress: progress)
                progress.line("keys: the archive waiting for a key stands for an encrypted channel whose key this demo community does not "
                              + "publish; `community-history demo --encrypted` shows archives that wait for keys imported, with no new "
                              + "download, as `keys import` brings the keys (its fixture's keys.jsonl)")
            }
            if !json {
                progress.line("read it: community-history messages --community \(publisher.community.communityID) --db \(db) --limit 20")
                progress.line("watch it: `community-history demo-network`, then `community-history agent --config demo-agent.json`, "
                              + "and open the status page, http://127.0.0.1:8790/ (the token is in demo-agent-history.sqlite.cookie)")
            }
        } catch {
            await codexNode.stop()
            await wakuNode.stop()
            throw error
        }
        await codexNode.stop()
        await wakuNode.stop()
    }
}
