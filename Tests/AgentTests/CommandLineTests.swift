import ArchiveImport
import CodexClient
import Fixtures
import StatusWire
import DemoNetwork
import Foundation
import GRDB
import HistoryStore
import Testing
import WakuClient

/// `codex-cid`, `doctor` and `sync`'s printed fixes, through the built binary as a user runs them.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CommandLineTests {
    static let binary = AgentTests.binary

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary, waiting for it on a thread of its own: not a cooperative thread (the demo
    /// nodes in this process need those to answer it), and not Dispatch's global queue, whose
    /// few threads (one per core on Linux) the code under test needs too: a run of `demo` holding
    /// both for half a minute made every other test wait, and the time-limited ones fail.
    static func run(_ arguments: [String]) async throws -> Run {
        try await onOwnThread { try runBlocking(arguments) }
    }

    /// `work` on a new thread, awaited without holding any shared thread.
    static func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.start()
        }
    }

    /// `environment` nil: this process's; `directory` nil: this process's working directory.
    static func runBlocking(_ arguments: [String], binary: URL = CommandLineTests.binary, environment: [String: String]? = nil,
                            in directory: URL? = nil) throws -> Run {
        let process = Process()
        process.executableURL = try AgentTests.requireBuilt(binary)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        // Files, not pipes: a child that fills one pipe while the other is read would block.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cli-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let out = directory.appendingPathComponent("stdout"), err = directory.appendingPathComponent("stderr")
        try #require(FileManager.default.createFile(atPath: out.path, contents: nil), "cannot create \(out.path)")
        try #require(FileManager.default.createFile(atPath: err.path, contents: nil), "cannot create \(err.path)")
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
                   stderr: try String(contentsOf: err, encoding: .utf8))
    }

    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func codexCIDReproducesTheRealVectors() async throws {
        let directory = try scratch()
        let file = directory.appendingPathComponent("test-data.bin")
        try Data("Hello, Codex! This is test data for upload.".utf8).write(to: file)
        let plain = try await Self.run(["codex-cid", file.path, "--filename", "test-data.bin", "--layout", "2025"])
        #expect(plain.status == 0)
        #expect(plain.stdout.split(separator: "\n").first == "zDvZRwzm8K7bcyPeBXcZzWD7AWc4VqNuseduDr3VsuYA1yXej49V")

        // The published hello.txt vectors: the current layout by default, every layout under --json.
        let hello = directory.appendingPathComponent("hello")
        try Data("Hello World!".utf8).write(to: hello)
        let current = try await Self.run(["codex-cid", hello.path, "--filename", "hello.txt", "--mimetype", "text/plain"])
        #expect(current.stdout.split(separator: "\n").first == "zDvZRwzm93r6pbHvCDtfXiLiLF96cXTiX5rkv1fWMLGfV1NJX8cr")
        let all = try await Self.run(["codex-cid", hello.path, "--filename", "hello.txt", "--mimetype", "text/plain", "--json"])
        let cids = (try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [String: Any])?["cids"] as? [String: String]
        #expect(cids?["2025"] == "zDvZRwzmAkhzDRPH5EW242gJBNZ2T7aoH2v1fVH66FxXL4kSbvyM")
        #expect(cids?["2026-01"] == "zDvZRwzm93r6pbHvCDtfXiLiLF96cXTiX5rkv1fWMLGfV1NJX8cr")
        #expect(cids?.keys.sorted() == ["2025", "2026-01", "v0"])
        let unknown = try await Self.run(["codex-cid", hello.path, "--layout", "2027"])
        #expect(unknown.status != 0)

        let contents = directory.appendingPathComponent("contents")
        try Data("some file contents".utf8).write(to: contents)
        let json = try await Self.run(["codex-cid", contents.path, "--filename", "", "--mimetype", "", "--layout", "2025", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["treeCid"] as? String == "zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL")
        #expect(object?["cid"] as? String == "zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy")
        #expect(object?["datasetSize"] as? Int == 18)

        let empty = directory.appendingPathComponent("empty")
        try Data().write(to: empty)
        let refused = try await Self.run(["codex-cid", empty.path])
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("empty"))
    }

    /// Issue 27: `status` and `messages` could not read a database on read-only media: a reader
    /// of a WAL database creates its shared-memory file beside it ("attempt to write a readonly
    /// database"). Shown as another user (nobody) reading a database in a directory it cannot
    /// write, which is what read-only media is to SQLite; needs root to switch users.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func statusAndMessagesReadADatabaseInADirectoryTheyCannotWrite() async throws {
        let directory = try scratch()
        let db = directory.appendingPathComponent("history.sqlite").path
        let replay = try await Self.run(["replay", AgentTests.bundled.path, "--db", db])
        #expect(replay.status == 0, "\(replay.stderr)")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: db)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: directory.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path) }
        let asNobody = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", Self.binary.path]
        let setpriv = URL(fileURLWithPath: "/usr/bin/setpriv")
        let status = try await Self.onOwnThread { try Self.runBlocking(asNobody + ["status", "--db", db, "--json"], binary: setpriv) }
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("0x03a66ba3747abe18d182838b1eaf9f0ee989fb57084bc7269a53ca588cca667ca0"), "\(status.stdout)")
        let messages = try await Self.onOwnThread {
            try Self.runBlocking(asNobody + ["messages", "--community", "0x03a66ba3747abe18d182838b1eaf9f0ee989fb57084bc7269a53ca588cca667ca0",
                                             "--db", db, "--limit", "3", "--json"], binary: setpriv)
        }
        #expect(messages.status == 0, "\(messages.stderr)")
        #expect(messages.stdout.split(separator: "\n").count == 3 && messages.stdout.contains("\"cursor\""), "\(messages.stdout)")
    }

    /// Issue 27: `sync --settle 1e19` trapped (exit 132) converting the seconds to a Duration.
    @Test func aSettleOutOfRangeIsAUsageError() async throws {
        let result = try await Self.run(["sync", "--community", "0x03a66ba3747abe18d182838b1eaf9f0ee989fb57084bc7269a53ca588cca667ca0",
                                         "--settle", "1e19", "--db", try scratch().appendingPathComponent("h.sqlite").path])
        #expect(result.status != 0 && result.status != 132 && result.status != 134, "\(result.status)")
        #expect(result.stderr.contains("--settle must be between 0 and 86400 seconds, not 1e+19"), "\(result.stderr)")
    }

    /// `benchmark apply --work-dir DIR` keeps its database in a subdirectory of its own, as `run`
    /// and `sync` do: before, it deleted `DIR/history.sqlite` (a member's database, if DIR was
    /// where they keep it) to start fresh.
    @Test func theApplyBenchmarkLeavesADatabaseInItsWorkDirectoryAlone() async throws {
        let directory = try scratch()
        let kept = directory.appendingPathComponent("history.sqlite")
        try Data("a member's database".utf8).write(to: kept)
        let result = try await Self.run(["benchmark", "apply", "--fixture", AgentTests.bundled.path, "--archives", "2",
                                         "--work-dir", directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("all: ") && result.stdout.contains("messages/s"), "\(result.stdout)")
        #expect(try Data(contentsOf: kept) == Data("a member's database".utf8))
    }

    @Test func doctorPassesOnTheDemoNetworkAndFailsWithoutAStorePeer() async throws {
        let directory = try scratch()
        let codex = try await DemoCodexNode.start(directory: directory.appendingPathComponent("codex"))
        let healthy = try await DemoWakuNode.start()
        let noStorePeer = try await DemoWakuNode.start(storeNode: nil)
        let db = directory.appendingPathComponent("history.sqlite").path
        let pass = try await Self.run(["doctor", "--codex-url", codex.baseURL.absoluteString, "--waku-url", healthy.baseURL.absoluteString, "--db", db])
        let fail = try await Self.run(["doctor", "--codex-url", codex.baseURL.absoluteString, "--waku-url", noStorePeer.baseURL.absoluteString, "--db", db])
        await codex.stop(); await healthy.stop(); await noStorePeer.stop()
        #expect(pass.status == 0, "\(pass.stdout)")
        #expect(!pass.stdout.contains("FAIL"))
        #expect(fail.status == 6)
        #expect(fail.stdout.contains("FAIL  store query answers") && fail.stdout.contains("fix: configure a store peer"))
    }

    /// `sync` against an nwaku node without a store peer: exit 5, the error, and the fix.
    @Test func syncPrintsTheFixOfAMisconfiguredPeer() async throws {
        let directory = try scratch()
        let codex = try await DemoCodexNode.start(directory: directory.appendingPathComponent("codex"))
        let waku = try await DemoWakuNode.start(storeNode: nil)
        let result = try await Self.run([
            "sync", "--community", "0x03a66ba3747abe18d182838b1eaf9f0ee989fb57084bc7269a53ca588cca667ca0",
            "--codex-url", codex.baseURL.absoluteString, "--waku-url", waku.baseURL.absoluteString,
            "--db", directory.appendingPathComponent("history.sqlite").path, "--settle", "0",
        ])
        await codex.stop(); await waku.stop()
        #expect(result.status == 5)
        #expect(result.stderr.contains("no store peer"))
        #expect(result.stderr.contains("check failed: store query answers") && result.stderr.contains("fix:"))
    }

    /// Regression (issue 9, defect 7): `generate-fixtures --out DIR` deleted DIR's contents
    /// whatever they were (`--out .` wiped a working directory), and wrote over the bundled
    /// fixture by default.
    @Test func generateFixturesRefusesADirectoryThatIsNotAFixture() async throws {
        let directory = try scratch()
        let precious = directory.appendingPathComponent("notes.txt")
        try Data("keep me".utf8).write(to: precious)
        let refused = try await Self.run(["control-node", "generate-fixtures", "--out", directory.path, "--weeks", "6",
                                          "--messages-per-week", "80"])
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("not empty") && refused.stderr.contains("--force"))
        #expect(try String(contentsOf: precious, encoding: .utf8) == "keep me")

        let noDefault = try await Self.run(["control-node", "generate-fixtures"])
        #expect(noDefault.status == 64)

        // A fixture directory is replaced; so is anything with --force.
        let fixture = directory.appendingPathComponent("fixture")
        for _ in 0..<2 {
            let made = try await Self.run(["control-node", "generate-fixtures", "--out", fixture.path, "--weeks", "6", "--messages-per-week", "80"])
            #expect(made.status == 0, "\(made.stderr)")
        }
        let forced = try await Self.run(["control-node", "generate-fixtures", "--out", directory.path, "--force", "--weeks", "6",
                                         "--messages-per-week", "80"])
        #expect(forced.status == 0)
        #expect(!FileManager.default.fileExists(atPath: precious.path))
    }

    /// Regression (issue 9, defect 10): `status` and `messages` opened the database for writing
    /// (to migrate it), so they waited out a chat client's write lock, then failed.
    @Test func statusAndMessagesOnlyRead() async throws {
        let directory = try scratch()
        let path = directory.appendingPathComponent("history.sqlite").path
        let community = "0x03a66ba3747abe18d182838b1eaf9f0ee989fb57084bc7269a53ca588cca667ca0"
        try await HistoryDatabase(path: path).insertLocalMessages([StoredMessage(
            id: "0x01", communityID: community, chatID: nil, contentTopic: "/waku/1/0x01020304/rfc26", author: "0x02", type: 1,
            clock: 1, timestamp: 1_000, payload: Data(), text: "hello", source: .local)])
        // A chat client holds the write lock while both commands run.
        let writer = try DatabaseQueue(path: path)
        let (status, messages) = try await writer.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            defer { try? db.execute(sql: "ROLLBACK") }
            return (try Self.runBlocking(["status", "--db", path]), try Self.runBlocking(["messages", "--community", community, "--db", path]))
        }
        #expect(status.status == 0 && status.stdout.contains("messages  1"), "\(status.stderr)")
        #expect(messages.status == 0 && messages.stdout.contains("hello"), "\(messages.stderr)")
    }

    /// Regression (issue 9, defect 10): a port already in use printed a raw `bind(…)` error
    /// without the port, and exited 1.
    @Test func aPortInUseIsNamed() async throws {
        let holder = try await DemoWakuNode.start()
        let taken = holder.server.port
        let result = try await Self.run(["demo-network", "--fixture", AgentTests.bundled.path, "--codex-port", "\(taken)",
                                         "--agent-config", try scratch().appendingPathComponent("agent.json").path])
        await holder.stop()
        #expect(result.status == 3)
        // --codex-port is the old name of --storage-port: the error names the option by its name now.
        #expect(result.stderr.contains("--storage-port: port \(taken) on 127.0.0.1 is already in use"), "\(result.stderr)")
    }

    /// The bundled community uploaded and announced on fresh demo nodes.
    static func announcedNetwork(_ directory: URL) async throws -> (DemoCodexNode, DemoWakuNode, CommunityPublisher) {
        let codex = try await DemoCodexNode.start(directory: directory.appendingPathComponent("codex"))
        let waku = try await DemoWakuNode.start()
        let publisher = try CommunityPublisher(fixture: try FixtureDirectory(url: AgentTests.bundled))
        _ = try await publisher.uploadBlobs(to: CodexClient(baseURL: codex.baseURL))
        try await publisher.announce(on: WakuClient(baseURL: waku.baseURL), clock: UInt64(Date().timeIntervalSince1970 * 1000))
        return (codex, waku, publisher)
    }

    /// Regression (issue 9, defect 10): with the Codex node down, `sync` exited 2 ("some
    /// archives failed") though its help says a peer that is unreachable is 5.
    @Test func codexDownExitsFive() async throws {
        let directory = try scratch()
        let (codex, waku, publisher) = try await Self.announcedNetwork(directory)
        let deadURL = codex.baseURL.absoluteString
        await codex.stop()
        let result = try await Self.run([
            "sync", "--community", publisher.community.communityID.string, "--codex-url", deadURL, "--waku-url", waku.baseURL.absoluteString,
            "--db", directory.appendingPathComponent("history.sqlite").path, "--settle", "0", "--retries", "0", "--json",
        ])
        await waku.stop()
        #expect(result.status == 5, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("\"cause\" : \"peer-unreachable\""), "\(result.stdout)")
        #expect(result.stderr.contains("check failed: storage node REST API reachable"), "\(result.stderr)")
        #expect(result.stderr.contains("--api-bindaddr=127.0.0.1 --api-port=8080"), "\(result.stderr)")
    }

    /// Regression (issue 9, defects 3 and 9): after a partial sync (`--mode range`), `--mode
    /// all` imported nothing until a new index was announced; and the bundled fixture's one
    /// encrypted archive made every run exit 2. Also `--rescan`: a processed index is fetched again.
    @Test func rangeThenAllThenRescanThroughTheBinary() async throws {
        let directory = try scratch()
        let (codex, waku, publisher) = try await Self.announcedNetwork(directory)
        let db = directory.appendingPathComponent("history.sqlite").path
        let entries = try FixtureDirectory(url: AgentTests.bundled).readIndex().1.entries.sorted { $0.from < $1.from }
        let week = entries[2]  // an importable one (the fixture's encrypted archive is the newest)
        let range = ["--mode", "range", "--from", "\(week.from)", "--to", "\(week.to)"]
        func sync(_ extra: [String]) async throws -> Run {
            try await Self.run(["sync", "--community", publisher.community.communityID.string, "--codex-url", codex.baseURL.absoluteString,
                                "--waku-url", waku.baseURL.absoluteString, "--db", db, "--settle", "0", "--retries", "0"] + extra)
        }
        let first = try await sync(range)
        let all = try await sync(["--mode", "all"])
        let imported = try HistoryDatabase(path: db).importedArchiveIDs(communityID: publisher.community.communityID.string)
        // Forget the week's import (as a restored older database would): only --rescan looks again.
        let queue = try DatabaseQueue(path: db)
        try await queue.write { try $0.execute(sql: "DELETE FROM imported_archive WHERE id = ?", arguments: [week.id.string]) }
        try queue.close()
        let notRescanned = try await sync(range)
        let rescanned = try await sync(range + ["--rescan"])
        // The digest reads the whole history: only when asked for (issue 10).
        let digested = try await sync(["--mode", "all", "--digest", "--json"])
        let expectedDigest = try HistoryDatabase(path: db).messageDigest(communityID: publisher.community.communityID.string)
        await codex.stop(); await waku.stop()

        #expect(!all.stdout.contains("digest") && !rescanned.stdout.contains("digest"), "\(all.stdout)")
        #expect(digested.status == 0 && digested.stdout.contains("\"digest\" : \"\(expectedDigest)\""), "\(digested.stdout)")

        #expect(first.status == 0 && first.stdout.contains("1 imported"), "\(first.stdout)\(first.stderr)")
        // All: the other 8 importable archives; the encrypted one waits for its key, said so, exit 0.
        #expect(all.status == 0 && all.stdout.contains("8 imported"), "\(all.stdout)\(all.stderr)")
        #expect(all.stdout.contains("1 waiting for a key") && all.stdout.contains("keys import"), "\(all.stdout)")
        #expect(imported.count == 9)
        #expect(notRescanned.status == 0 && notRescanned.stdout.contains("up to date"), "\(notRescanned.stdout)")
        #expect(rescanned.status == 0 && rescanned.stdout.contains("1 imported"), "\(rescanned.stdout)\(rescanned.stderr)")
    }

    /// The sync's JSON report says how long each import took and how long the write lock was
    /// held; `benchmark sync` runs a whole sync from the demo nodes in a child process and prints
    /// its figures, with a probe writing beside it as a chat client does (issue 10).
    /// Issue 11 (a CLI that follows the conventions): `--version` prints the version, with the
    /// database schema and the archive decoder revision a bug report needs, and exits 0.
    @Test func versionSaysWhatThisBuildIs() async throws {
        let version = try await Self.run(["--version"])
        #expect(version.status == 0, "\(version.stderr)")
        let schema = try #require(HistoryDatabase.knownMigrations.last)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                == "0.1.0 (database schema \(schema), archive decoder revision \(ArchiveImporter.decoderRevision))")
    }

    @Test func syncReportsItsTimingAndTheSyncBenchmarkRuns() async throws {
        let directory = try scratch()
        let (codex, waku, publisher) = try await Self.announcedNetwork(directory)
        let db = directory.appendingPathComponent("history.sqlite").path
        let synced = try await Self.run(["sync", "--community", publisher.community.communityID.string,
                                         "--codex-url", codex.baseURL.absoluteString, "--waku-url", waku.baseURL.absoluteString,
                                         "--db", db, "--settle", "0", "--retries", "0", "--workers", "2", "--json"])
        await codex.stop(); await waku.stop()
        #expect(synced.status == 0, "\(synced.stderr)")
        let performance = try JSONDecoder().decode(SyncReportPerformance.self, from: Data(synced.stdout.utf8)).performance
        // The bundled fixture: 9 importable archives, after the index; an archive is verified
        // while the one before is written, so imports overlap, but the paces add up to less than the run.
        #expect(performance.archives.count == 9)
        #expect(performance.archives.allSatisfy { $0.entries > 0 && $0.seconds > 0 && $0.sincePreviousCommitSeconds > 0 })
        #expect(performance.archives.allSatisfy { $0.sincePreviousCommitSeconds <= $0.seconds })
        #expect(performance.archives.map(\.sincePreviousCommitSeconds).reduce(0, +) <= performance.seconds)
        let toFirst = try #require(performance.indexToFirstImportSeconds)
        #expect(toFirst >= performance.archives[0].seconds && toFirst < performance.seconds)
        #expect(performance.longestWriteLockSeconds > 0 && performance.longestWriteLockSeconds <= performance.archives.map(\.seconds).max()!)
        #expect((performance.peakResidentMiB ?? 0) > 0)

        let zero = try await Self.run(["sync", "--community", publisher.community.communityID.string, "--db", db, "--workers", "0"])
        #expect(zero.status != 0 && zero.stderr.contains("--workers must be at least 1"), "\(zero.stderr)")

        let benchmark = try await Self.run(["benchmark", "sync", "--messages", "1200", "--weeks", "2", "--workers", "1", "--workers", "2",
                                            "--work-dir", directory.appendingPathComponent("benchmark").path, "--json"])
        #expect(benchmark.status == 0, "\(benchmark.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(benchmark.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(rows.map { $0["workers"] as? Int } == [1, 2])
        for row in rows {
            // Two generated weeks of 600 messages (plus the fixture's special entries), all imported.
            #expect(row["archives"] as? Int == 2 && (row["entries"] as? Int ?? 0) >= 1_200, "\(row)")
            #expect((row["probeWrites"] as? Int ?? 0) > 0 && row["probeFailures"] as? Int == 0, "\(row)")
            #expect((row["bytesPerMessage"] as? Double ?? 0) > 100, "\(row)")
            #expect(row["firstArchiveMessagesPerSecond"] is Double && row["lastArchiveMessagesPerSecond"] is Double, "\(row)")
        }
    }

    /// The part of `sync --json` this suite reads.
    struct SyncReportPerformance: Decodable {
        struct Performance: Decodable {
            struct Archive: Decodable { var entries: Int; var seconds: Double; var sincePreviousCommitSeconds: Double }
            var seconds: Double
            var indexToFirstImportSeconds: Double?
            var longestWriteLockSeconds: Double
            var archives: [Archive]
            var peakResidentMiB: Double?
        }
        var performance: Performance
    }

    /// Regression (issue 9, defect 8): two processes on one database both downloaded and
    /// imported everything. The second now stops at once, naming the first.
    @Test func aSecondSyncOnTheSameDatabaseNamesTheFirst() async throws {
        let directory = try scratch()
        let db = directory.appendingPathComponent("history.sqlite").path
        let held = try SyncLock(databasePath: db, command: "agent")
        let result = try await Self.run([
            "sync", "--community", "0x03a66ba3747abe18d182838b1eaf9f0ee989fb57084bc7269a53ca588cca667ca0",
            "--codex-url", "http://127.0.0.1:9", "--waku-url", "http://127.0.0.1:9", "--db", db,
        ])
        let replay = try await Self.run(["replay", AgentTests.bundled.path, "--db", db])
        held.release()
        #expect(result.status == 7, "\(result.stderr)")
        #expect(result.stderr.contains("process \(getpid()) (community-history agent"), "\(result.stderr)")
        #expect(replay.status == 7)
        // Once the holder is gone, the lock is free again.
        let after = try SyncLock(databasePath: db, command: "sync")
        after.release()
    }

    /// Regression (issue 9, defect 5): while a download stalled, `sync` burned half a core
    /// (URLSession's libcurl bridge kept a socket's write source armed: ~7,000 wake-ups a
    /// second). The CPU time the process uses while it waits on a stalled stream is measured
    /// from /proc: a waiting process uses next to none.
    @Test func aStalledDownloadCostsNoCPU() async throws {
        let directory = try scratch()
        let (codex, waku, publisher) = try await Self.announcedNetwork(directory)
        defer { Task { await codex.stop(); await waku.stop() } }
        await codex.stallDownloads(of: try CID(publisher.indexCID), after: 100)
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["sync", "--community", publisher.community.communityID.string, "--codex-url", codex.baseURL.absoluteString,
                             "--waku-url", waku.baseURL.absoluteString, "--db", directory.appendingPathComponent("h.sqlite").path,
                             "--settle", "0", "--retries", "0"]  // the minimum rate checks every 64 s: not within this test
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        // Until the index stream is open (the manifest, then the stream: two requests).
        try await AgentTests.waitUntil { await codex.requestCount() >= 2 }
        // Windows of 1 s, up to 10: the sync's own start-up work (key derivation, the store
        // query for channel names) may spill into the first ones on a loaded machine, but a
        // waiting process then has a quiet window, and a spinning one (~100 ticks a second at
        // 100 Hz) never does.
        var windows: [Int] = []
        for _ in 0..<10 {
            let before = try Self.cpuTicks(process.processIdentifier)
            try await Task.sleep(for: .seconds(1))
            windows.append(try Self.cpuTicks(process.processIdentifier) - before)
            if windows.last! < 10 { break }
        }
        #expect(process.isRunning, "still waiting on the stalled stream")
        #expect(windows.contains { $0 < 10 }, "CPU ticks per second while waiting: \(windows)")
    }

    /// utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15).
    static func cpuTicks(_ pid: Int32) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // The command name (field 2) is in parentheses and may hold spaces: count from after it.
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        return Int(fields[11])! + Int(fields[12])!
    }
}
