import ArchiveImport
import Fixtures
import Foundation
import Testing

/// The command line as a new user meets it (issue 11, "A CLI that follows the conventions"),
/// through the built binary: paths and environment, errors under --json, chat-view listings,
/// week coverage, --expect's diff, demo from any directory, the URLs demo-network prints.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CLIConventionsTests {
    static let binary = CommandLineTests.binary
    static let communityID = "0x03a66ba3747abe18d182838b1eaf9f0ee989fb57084bc7269a53ca588cca667ca0"

    /// Runs the binary with `environment` added to a clean one (HOME and XDG dirs in a scratch
    /// directory, so nothing touches the user's) and in `directory`.
    static func run(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil,
                    binary: URL = CLIConventionsTests.binary) async throws -> CommandLineTests.Run {
        // On a thread of its own (CommandLineTests.run says why).
        try await CommandLineTests.onOwnThread {
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cli-conv-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            var env = ["PATH": "/usr/bin:/bin", "HOME": scratch.appendingPathComponent("home").path]
            env.merge(environment) { _, new in new }
            return try CommandLineTests.runBlocking(arguments, binary: binary, environment: env, in: directory ?? scratch)
        }
    }

    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cli-conv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A database holding the bundled community (replayed).
    func replayed() async throws -> String {
        let db = try scratch().appendingPathComponent("history.sqlite").path
        let replay = try await Self.run(["replay", AgentTests.bundled.path, "--db", db])
        try #require(replay.status == 0, "\(replay.stderr)")
        return db
    }

    @Test func messagesPagesNewestFirstWithCursorsChannelsAndStreamsNDJSON() async throws {
        let db = try await replayed()
        let first = try await Self.run(["messages", "--community", Self.communityID, "--db", db, "--limit", "5"])
        #expect(first.status == 0, "\(first.stderr)")
        let lines = first.stdout.split(separator: "\n")
        #expect(lines.count == 5)
        #expect(lines.allSatisfy { $0.contains("chat-message") || $0.contains("emoji-reaction") || $0.contains("type ") })
        let times = lines.map { String($0.prefix(19)) }
        #expect(times == times.sorted(by: >), "newest first")
        let older = try #require(first.stderr.range(of: "older: --before "), "\(first.stderr)")
        let cursor = String(first.stderr[older.upperBound...].prefix { $0 != ";" && !$0.isWhitespace })
        #expect(first.stderr.contains("newer: --after "), "\(first.stderr)")
        let second = try await Self.run(["messages", "--community", Self.communityID, "--db", db, "--limit", "5", "--before", cursor])
        #expect(second.status == 0 && second.stdout.split(separator: "\n").count == 5)
        #expect(String(second.stdout.prefix(19)) <= times.last!, "the next page is older")

        // The channel as it is listed is what --channel takes.
        let channel = String(lines[0].split(separator: " ", omittingEmptySubsequences: true)[2])
        let inChannel = try await Self.run(["messages", "--community", Self.communityID, "--db", db, "--channel", channel, "--limit", "20"])
        #expect(inChannel.status == 0 && inChannel.stdout.split(separator: "\n").count == 20)
        #expect(inChannel.stdout.split(separator: "\n").allSatisfy { $0.contains(channel) })

        // --json: one object per line, the whole history, newest first.
        let json = try await Self.run(["messages", "--community", Self.communityID, "--db", db, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let objects = json.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == 5404 + 7, "every archived message and the kept local copies (seeded by replay)")
        #expect(objects.allSatisfy { $0["schemaVersion"] as? Int == 1 && $0["cursor"] is String })
        let stamps = objects.compactMap { $0["timestamp"] as? Int64 }
        #expect(stamps == stamps.sorted(by: >))
        #expect(objects.filter { $0["source"] as? String == "local" }.allSatisfy { $0["archiveID"] is NSNull }, "absent values are null, not missing")

        let both = try await Self.run(["messages", "--community", Self.communityID, "--db", db, "--before", cursor, "--after", cursor])
        #expect(both.status == 64)
        let badCursor = try await Self.run(["messages", "--community", Self.communityID, "--db", db, "--before", "yesterday"])
        #expect(badCursor.status == 64 && badCursor.stderr.contains("not a cursor"))
    }

    @Test func statusShowsTheWeeksAndSpeaksMillisecondsInJSON() async throws {
        let db = try await replayed()
        let text = try await Self.run(["status", "--db", db])
        #expect(text.status == 0, "\(text.stderr)")
        let weeks = try #require(text.stdout.split(separator: "\n").first { $0.contains("weeks ") })
        #expect(weeks.contains("[") && weeks.contains("9 present"), "\(weeks)")
        let json = try await Self.run(["status", "--db", db, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["schemaVersion"] as? Int == 1)
        let community = try #require((object["communities"] as? [[String: Any]])?.first)
        let from = try #require(community["coveredFrom"] as? Int64)
        #expect(from > 1_000_000_000_000, "milliseconds")
        #expect(community["lastError"] is NSNull, "absent values are null")
        let states = (community["weeks"] as? [[String: Any]] ?? []).compactMap { $0["state"] as? String }
        #expect(states.filter { $0 == "present" }.count == 9 && states.count >= 10, "\(states)")
    }

    @Test func pathsComeFromTheEnvironmentThenTheXDGDirectories() async throws {
        let home = try scratch()
        let data = home.appendingPathComponent("data")
        // Nothing given: the XDG data directory, made on first write, only the user's.
        let replay = try await Self.run(["replay", AgentTests.bundled.path], environment: ["XDG_DATA_HOME": data.path])
        #expect(replay.status == 0, "\(replay.stderr)")
        let made = data.appendingPathComponent("community-history/history.sqlite").path
        #expect(FileManager.default.fileExists(atPath: made))
        let mode = try FileManager.default.attributesOfItem(atPath: data.appendingPathComponent("community-history").path)[.posixPermissions] as? Int
        #expect(mode == 0o700)
        let status = try await Self.run(["status"], environment: ["XDG_DATA_HOME": data.path])
        #expect(status.status == 0 && status.stdout.contains(Self.communityID))
        // The working directory only when asked.
        let missing = try await Self.run(["status"], environment: ["XDG_DATA_HOME": home.appendingPathComponent("elsewhere").path], in: data)
        #expect(missing.status == 4 && missing.stderr.contains("elsewhere/community-history/history.sqlite"), "\(missing.stderr)")
        // $COMMUNITY_HISTORY_DB wins over XDG; --db wins over both.
        let byEnvironment = try await Self.run(["status"], environment: ["COMMUNITY_HISTORY_DB": made, "XDG_DATA_HOME": "/nonexistent"])
        #expect(byEnvironment.status == 0 && byEnvironment.stdout.contains(Self.communityID))
        let byOption = try await Self.run(["status", "--db", made], environment: ["COMMUNITY_HISTORY_DB": "/nonexistent/h.sqlite"])
        #expect(byOption.status == 0)
        // Log level and peers from the environment.
        let badLevel = try await Self.run(["replay", AgentTests.bundled.path, "--db", made], environment: ["COMMUNITY_HISTORY_LOG_LEVEL": "loud"])
        #expect(badLevel.status == 64 && badLevel.stderr.contains("COMMUNITY_HISTORY_LOG_LEVEL=loud"))
        let verbose = try await Self.run(["replay", AgentTests.bundled.path, "--db", made, "--force"], environment: ["COMMUNITY_HISTORY_LOG_LEVEL": "info"])
        #expect(verbose.status == 0 && verbose.stderr.contains("info"), "\(verbose.stderr)")
        let quiet = try await Self.run(["replay", AgentTests.bundled.path, "--db", made, "--force", "-q"], environment: ["COMMUNITY_HISTORY_LOG_LEVEL": "info"])
        #expect(quiet.status == 0 && !quiet.stderr.contains("info"), "\(quiet.stderr)")
        #expect(try await Self.run(["replay", "--db", made, "-q", "-v"]).status == 64)
        // The agent's configuration: the XDG config directory, or $COMMUNITY_HISTORY_CONFIG.
        let config = home.appendingPathComponent("config")
        let noConfig = try await Self.run(["agent"], environment: ["XDG_CONFIG_HOME": config.path])
        #expect(noConfig.status == 3 && noConfig.stderr.contains(config.appendingPathComponent("community-history/agent.json").path), "\(noConfig.stderr)")
        let named = try await Self.run(["agent"], environment: ["COMMUNITY_HISTORY_CONFIG": home.appendingPathComponent("mine.json").path])
        #expect(named.status == 3 && named.stderr.contains("mine.json"), "\(named.stderr)")
        let doctor = try await Self.run(["doctor", "--db", made, "--json"], environment: ["COMMUNITY_HISTORY_CODEX_URL": "http://127.0.0.1:9/api/codex/v1"])
        // The node's API URL as nim-codex documents it: the client does not add /api/codex/v1 twice.
        let asked = doctor.stdout.replacingOccurrences(of: "\\/", with: "/")
        #expect(asked.contains("127.0.0.1:9/api/codex/v1/debug/info") && !asked.contains("/api/codex/v1/api/codex/v1"), "\(doctor.stdout)")
    }

    @Test func underJSONErrorsAreOneJSONObjectOnStandardError() async throws {
        let missing = try await Self.run(["status", "--db", "/nonexistent/history.sqlite", "--json"])
        #expect(missing.status == 4 && missing.stdout.isEmpty)
        let error = try #require(try JSONSerialization.jsonObject(with: Data(missing.stderr.utf8)) as? [String: Any], "\(missing.stderr)")
        let body = try #require(error["error"] as? [String: Any])
        #expect(error["schemaVersion"] as? Int == 1 && body["code"] as? String == "database" && body["exitCode"] as? Int == 4)
        #expect((body["messages"] as? [String])?.first?.contains("/nonexistent/history.sqlite") == true)
        let usage = try await Self.run(["messages", "--json"])
        #expect(usage.status == 64)
        let usageError = try #require(try JSONSerialization.jsonObject(with: Data(usage.stderr.utf8)) as? [String: Any], "\(usage.stderr)")
        #expect((usageError["error"] as? [String: Any])?["code"] as? String == "usage")
        let plain = try await Self.run(["status", "--db", "/nonexistent/history.sqlite"])
        #expect(plain.stderr.hasPrefix("error: no database"))
    }

    @Test func expectPrintsWhereTheReportDiffersByKeyPath() async throws {
        let directory = try scratch()
        let expected = directory.appendingPathComponent("expected.json")
        var report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: AgentTests.bundled.appendingPathComponent("expected-report.json"))) as? [String: Any])
        var archives = try #require(report["archives"] as? [String: Any])
        archives["imported"] = 8
        report["archives"] = archives
        try JSONSerialization.data(withJSONObject: report).write(to: expected)
        let run = try await Self.run(["replay", AgentTests.bundled.path, "--db", directory.appendingPathComponent("h.sqlite").path, "--expect", expected.path])
        #expect(run.status == 1)
        #expect(run.stderr.contains("at 1 key path") && run.stderr.contains("archives.imported: expected 8, got 9"), "\(run.stderr)")
    }

    @Test func demoRunsFromAnyDirectoryEvenWithoutTheRepository() async throws {
        // A copy of the binary far from the repository: the bundled community is made from its seed.
        let place = try scratch()
        let copy = place.appendingPathComponent("community-history")
        try FileManager.default.copyItem(at: Self.binary, to: copy)
        let run = try await Self.run(["demo", "--db", place.appendingPathComponent("demo.sqlite").path, "--settle", "0.2", "--json"], binary: copy)
        #expect(run.status == 0, "\(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
        #expect(report["schemaVersion"] as? Int == 1)
        #expect((report["archives"] as? [String: Any])?["imported"] as? Int == 9)
    }

    /// Channel names come from the description the community signed on its own chat (a forged
    /// one with a higher clock renames nothing); --channel takes a name as it is listed.
    @Test func messagesShowChannelsByTheNamesTheCommunitySigned() async throws {
        let db = try scratch().appendingPathComponent("demo.sqlite").path
        let demo = try await Self.run(["demo", "--db", db, "--settle", "0.2"])
        try #require(demo.status == 0, "\(demo.stderr)")
        let listed = try await Self.run(["messages", "--community", Self.communityID, "--db", db, "--limit", "60"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let channels = Set(listed.stdout.split(separator: "\n").map { String($0.split(separator: " ", omittingEmptySubsequences: true)[2]) })
        #expect(channels == ["#general", "#dev", "#random"], "\(channels)")

        let dev = try await Self.run(["messages", "--community", Self.communityID, "--db", db, "--channel", "dev", "--limit", "20"])
        #expect(dev.status == 0 && dev.stdout.split(separator: "\n").count == 20, "\(dev.stderr)")
        #expect(dev.stdout.split(separator: "\n").allSatisfy { $0.contains("  #dev  ") })
        let json = try await Self.run(["messages", "--community", Self.communityID, "--db", db, "--channel", "#DEV", "--json", "--limit", "3"])
        let objects = json.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == 3 && objects.allSatisfy { $0["channelName"] as? String == "dev" }, "\(json.stdout)")
        // The UUID (what --json gives as channel) still selects the channel.
        let uuid = try #require(objects.first?["channel"] as? String)
        let byUUID = try await Self.run(["messages", "--community", Self.communityID, "--db", db, "--channel", uuid, "--limit", "20"])
        #expect(byUUID.stdout == dev.stdout)

        // Issue 23: a channel the community does not have is an error that lists its channels,
        // with the nearest one, not an empty list (exit 3).
        for (given, suggested) in [("nonexist", nil), ("#devv", "#dev"), ("Genral", "#general")] as [(String, String?)] {
            let unknown = try await Self.run(["messages", "--community", Self.communityID, "--db", db, "--channel", given])
            #expect(unknown.status == 3 && unknown.stdout.isEmpty, "\(given): \(unknown.status) \(unknown.stdout)")
            #expect(unknown.stderr.contains("no channel \(given) in this community"), "\(unknown.stderr)")
            #expect(["#general", "#dev", "#random"].allSatisfy(unknown.stderr.contains), "\(unknown.stderr)")
            if let suggested { #expect(unknown.stderr.contains("did you mean \(suggested)?"), "\(unknown.stderr)") }
            else { #expect(!unknown.stderr.contains("did you mean"), "\(unknown.stderr)") }
        }
    }

    /// Issue 12: the encrypted community's demo shows its index waiting for a key, the older
    /// weeks waiting once the newest key is imported, and their kept downloads imported with the
    /// older key (nothing downloaded twice), all through the binary.
    @Test func theEncryptedDemoWaitsForKeysThenImportsWithoutDownloadingTwice() async throws {
        let db = try scratch().appendingPathComponent("encrypted.sqlite").path
        let demo = try await Self.run(["demo", "--encrypted", "--db", db, "--settle", "0.2"])
        #expect(demo.status == 0, "\(demo.stderr)")
        let reports = demo.stdout.components(separatedBy: "community      ").dropFirst()
        #expect(reports.count == 3, "\(demo.stdout)")
        guard reports.count == 3 else { return }
        let (first, second, third) = (reports[reports.startIndex], reports[reports.startIndex + 1], reports[reports.startIndex + 2])
        #expect(first.contains("0 downloaded") && first.contains("1 waiting for a key"), "\(first)")
        #expect(second.contains("4 downloaded") && second.contains("2 imported") && second.contains("2 waiting for a key"), "\(second)")
        #expect(third.contains("0 downloaded") && third.contains("2 imported") && !third.contains("waiting for a key"), "\(third)")
        #expect(third.contains("of them held for a key until now (no download)"), "\(third)")
        let status = try await Self.run(["status", "--db", db])
        #expect(status.stdout.contains("[####]") && !status.stdout.contains("keys      "), "\(status.stdout)")
        let community = try #require(status.stdout.split(separator: "\n").first.map(String.init))
        let messages = try await Self.run(["messages", "--community", community, "--db", db, "--json"])
        #expect(messages.stdout.split(separator: "\n").count == 240)
    }

    @Test func demoNetworkPrintsTheURLsThatSyncTakes() async throws {
        let place = try scratch()
        let network = Process()
        network.executableURL = Self.binary
        network.arguments = ["demo-network", "--agent-config", place.appendingPathComponent("a.json").path]
        network.currentDirectoryURL = place  // not the repository: the bundled community is found next to the binary
        let pipe = Pipe()
        network.standardOutput = pipe
        try network.run()
        defer { if network.isRunning { network.terminate() } }
        // Read as it is printed (a pipe, not a terminal: line by line all the same).
        var printed = ""
        let reader = pipe.fileHandleForReading
        while !printed.contains("serving until Ctrl-C") {
            let chunk = reader.availableData
            try #require(!chunk.isEmpty, "demo-network ended: \(printed)")
            printed += String(decoding: chunk, as: UTF8.self)
        }
        func url(after label: String) throws -> String {
            let line = try #require(printed.split(separator: "\n").first { $0.hasPrefix(label) })
            return String(try #require(line.split(separator: " ", omittingEmptySubsequences: true).first { $0.hasPrefix("http") }))
        }
        let storage = try url(after: "storage node"), waku = try url(after: "nwaku node")
        #expect(printed.contains("REST API under /api/storage/v1, 2026-01 manifest layout"), "\(printed)")
        let sync = try await Self.run(["sync", "--community", Self.communityID, "--storage-url", storage, "--waku-url", waku,
                                       "--db", place.appendingPathComponent("h.sqlite").path, "--settle", "0.2", "--json"])
        #expect(sync.status == 0, "\(sync.stderr)")
        #expect(sync.stdout.contains("\"imported\" : 9"), "\(sync.stdout)")
        network.terminate()
    }

    @Test func shellCompletionsCoverEveryCommand() async throws {
        for shell in ["bash", "zsh", "fish"] {
            let run = try await Self.run(["--generate-completion-script", shell])
            #expect(run.status == 0)
            for command in ["sync", "agent", "messages", "status", "replay", "demo", "doctor"] { #expect(run.stdout.contains(command), "\(shell): \(command)") }
            #expect(run.stdout.contains("before"), "\(shell): messages --before")
        }
    }
}

extension CLIConventionsTests {
    /// The committed man page (docs/community-history.1, `scripts/generate-man-page.sh`) names
    /// every command and every long option the binary has: a stale page fails here.
    @Test func theManPageIsCurrent() async throws {
        let page = try String(contentsOf: AgentTests.root.appendingPathComponent("docs/community-history.1"), encoding: .utf8)
        let dump = try await Self.run(["--experimental-dump-help"])
        let info = try #require(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        var missing: [String] = []
        func walk(_ command: [String: Any], path: [String]) {
            let name = command["commandName"] as? String ?? ""
            let here = path + [name]
            if path.count >= 1 && !page.contains(name) { missing.append(here.joined(separator: " ")) }
            for argument in command["arguments"] as? [[String: Any]] ?? [] where argument["shouldDisplay"] as? Bool != false {
                for long in (argument["names"] as? [[String: Any]] ?? []).filter({ $0["kind"] as? String == "long" }) {
                    // mdoc writes --db as "Fl -db", and -v/--verbose as "Fl v , -verbose".
                    let option = long["name"] as? String ?? ""
                    if !page.contains("Fl -\(option)") && !page.contains(" , -\(option)") { missing.append("\(here.joined(separator: " ")) --\(option)") }
                }
            }
            for sub in command["subcommands"] as? [[String: Any]] ?? [] { walk(sub, path: here) }
        }
        walk(try #require(info["command"] as? [String: Any]), path: [])
        #expect(missing.isEmpty, "run scripts/generate-man-page.sh: the man page lacks \(missing)")
    }
}

extension CLIConventionsTests {
    /// Regression: with a relative `--db` (the working directory, when asked), every import
    /// failed: SQLite names the attached staging file by its full path, and the check compared
    /// it with the relative one ("SQLite attached /tmp/…/h.sqlite.staging/…, not the staging
    /// database h.sqlite.staging/…"). Found running `sync --db h.sqlite` by hand.
    @Test func aDatabaseGivenByARelativePathImports() async throws {
        let place = try scratch()
        let run = try await Self.run(["replay", AgentTests.bundled.path, "--db", "h.sqlite", "--json"], in: place)
        #expect(run.status == 0, "\(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
        #expect((report["archives"] as? [String: Any])?["imported"] as? Int == 9, "\(run.stdout)")
        #expect(FileManager.default.fileExists(atPath: place.appendingPathComponent("h.sqlite").path))
    }
}

extension CLIConventionsTests {
    /// What `sync` of the announced bundled community draws on a terminal (a pseudo-terminal
    /// from `script(1)`), carriage returns as line breaks.
    func syncOnATerminal(_ setup: AgentTests.Setup, codexURL: URL, _ options: [String]) async throws -> String {
        try await setup.first.announce(on: setup.waku, clock: UInt64(Date().timeIntervalSince1970 * 1000))
        let database = try scratch().appendingPathComponent("h.sqlite").path
        let command = [Self.binary.path, "sync", "--community", Self.communityID, "--codex-url", codexURL.absoluteString,
                       "--waku-url", setup.wakuNode.baseURL.absoluteString, "--db", database] + options
        let run = try await Self.run(["-qec", command.joined(separator: " "), "/dev/null"], binary: URL(fileURLWithPath: "/usr/bin/script"))
        return run.stdout.replacingOccurrences(of: "\r", with: "\n")
    }

    /// On a terminal (a pseudo-terminal from `script(1)` here), `sync` counts the quiet window
    /// down and says when it retries, with the attempt and how many there are.
    @Test func onATerminalTheWaitsCountDownAndARetrySaysItsAttempt() async throws {
        let setup = try await AgentTests.setUp()
        // The nwaku node's URL as the Codex node's: every index fetch fails at once (HTTP 400), and is retried once.
        let screen = try await syncOnATerminal(setup, codexURL: setup.wakuNode.baseURL, ["--settle", "1.5", "--retries", "1"])
        #expect(screen.contains("for more announcements (the quiet window)"), "\(screen)")
        #expect(screen.contains("retrying in 5 s (attempt 2 of 2)"), "\(screen)")
        #expect(screen.contains("retrying in 3 s (attempt 2 of 2)"), "the wait counts down: \(screen)")
        #expect(screen.contains("took "), "the report gives the duration")
        await setup.stop()
    }
}

extension CLIConventionsTests {
    /// On a terminal the bar gives totals, failed archives (`!`), archives waiting for a key
    /// (`k`: the bundled community's encrypted archive), the time left and, at the end, the
    /// report's duration. One archive is served damaged, so it fails.
    @Test func onATerminalTheBarShowsFailedArchivesAndTheTimeLeft() async throws {
        let setup = try await AgentTests.setUp()
        let victim = try FixtureDirectory(url: AgentTests.bundled).readIndex().1.entries[3]
        await setup.codexNode.corruptDownloads(of: victim.cid)
        let screen = try await syncOnATerminal(setup, codexURL: setup.codexNode.baseURL, ["--settle", "0.2", "--concurrency", "1", "--retries", "0"])
        #expect(screen.contains("/10 archives (1 failed) (1 waiting for a key)"), "\(screen)")
        #expect(screen.contains("!k"), "the bar: \(screen)")
        #expect(screen.contains("· ETA "), "\(screen)")
        #expect(screen.contains("8 imported") && screen.contains("took "), "\(screen)")
        await setup.stop()
    }
}

extension CLIConventionsTests {
    /// Issue 12, "Keys in": `keys import` and `keys list` through the binary.
    @Test func keysAreImportedOnceAndListedWithoutTheirBytes() async throws {
        let place = try scratch()
        let db = place.appendingPathComponent("h.sqlite").path
        let key = String(repeating: "00", count: 31) + "01"
        let file = place.appendingPathComponent("keys.jsonl")
        try Data("""
            {"groupID":"0x024e3b81af9c2234cad09d679ce6035ed1392347ce64ce405f5dcd36228a25de6e","timestamp":1700000000000,"key":"0x\(key)","keyID":"0x25f8a1551dac425d8da740055e330dc408fc383c8efc0c1e5fe3d5fa88734be0"}
            """.utf8).write(to: file)
        let first = try await Self.run(["keys", "import", file.path, "--db", db])
        #expect(first.status == 0 && first.stdout.contains("imported 1 key(s), 0 already stored"), "\(first.stderr)")
        let again = try await Self.run(["keys", "import", file.path, "--db", db, "--json"])
        #expect(again.stdout.contains("\"alreadyStored\" : 1"), "\(again.stdout)")
        let list = try await Self.run(["keys", "list", "--db", db])
        #expect(list.status == 0 && list.stdout.contains("0x25f8a1551dac425d8da740055e330dc408fc383c8efc0c1e5fe3d5fa88734be0"))
        #expect(!list.stdout.contains(key) && !first.stdout.contains(key), "the key's bytes are never printed")
        let mode = try FileManager.default.attributesOfItem(atPath: db + ".keys")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // A wrong key ID stores nothing and names the line.
        try Data(#"{"groupID":"0x01","timestamp":1,"key":"0x\#(key)","keyID":"0x00"}"#.utf8).write(to: file)
        let wrong = try await Self.run(["keys", "import", file.path, "--db", db])
        #expect(wrong.status == 3 && wrong.stderr.contains("line 1: the keyID given is not the key's ID"), "\(wrong.stderr)")
        #expect(try await Self.run(["keys", "list", "--db", db, "--json"]).stdout.components(separatedBy: "keyID").count == 2, "still one key")
    }
}

extension CLIConventionsTests {
    /// `replay` and `sync` read the key store beside the database: a damaged store stops them
    /// with its path (rather than every encrypted message being reported as missing its key).
    @Test func aDamagedKeyStoreIsSaidNotTakenForNoKeys() async throws {
        let place = try scratch()
        let db = place.appendingPathComponent("h.sqlite").path
        try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: db + ".keys"))
        let replay = try await Self.run(["replay", AgentTests.bundled.path, "--db", db])
        #expect(replay.status == 3 && replay.stderr.contains("h.sqlite.keys line 1 is not a key this program wrote"), "\(replay.stderr)")
        let sync = try await Self.run(["sync", "--community", Self.communityID, "--db", db, "--codex-url", "http://127.0.0.1:9", "--waku-url", "http://127.0.0.1:9"])
        #expect(sync.status == 3 && sync.stderr.contains("h.sqlite.keys line 1"), "\(sync.stderr)")
    }
}
