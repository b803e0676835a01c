import ArchiveImport
import CodexClient
import ControlNode
import DemoNetwork
import Fixtures
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GRDB
import HistoryStore
import OneShot
import PeerHTTP
import StatusWire
import AgentService
import SyncEngine
import Testing
import WakuClient

/// The agent following two communities on the loopback demo network.
@Suite(.serialized, .timeLimit(.minutes(5))) struct AgentTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let bundled = root.appendingPathComponent("Fixtures/demo-community")
    /// The built command, run as a user runs it: `.build/debug/community-history`, or the executable
    /// `COMMUNITY_HISTORY_BINARY` names (`scripts/address-sanitizer.sh` passes its own build's).
    static let binary = ProcessInfo.processInfo.environment["COMMUNITY_HISTORY_BINARY"].map { URL(fileURLWithPath: $0) }
        ?? root.appendingPathComponent(".build/debug/community-history")

    /// `executable`, once it is there to run; a test that would start it fails with what to do.
    static func requireBuilt(_ executable: URL = AgentTests.binary) throws -> URL {
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "build the executable first (swift build --build-tests)")
        return executable
    }

    struct Setup {
        var scratch: URL
        var codexNode: DemoCodexNode
        var wakuNode: DemoWakuNode
        var first: CommunityPublisher
        var second: CommunityPublisher
        var waku: WakuClient { WakuClient(baseURL: wakuNode.baseURL) }

        func configuration(settle: Double = 0.3, metricsPort: Int? = 0) -> AgentConfiguration {
            AgentConfiguration(
                codexURL: codexNode.baseURL.absoluteString, wakuURL: wakuNode.baseURL.absoluteString,
                database: scratch.appendingPathComponent("history.sqlite").path, relayPollSeconds: 0.1, storeCatchUpSeconds: 2,
                metricsPort: metricsPort, diskMarginBytes: 0,
                communities: [
                    .init(id: first.community.communityID.string, settleSeconds: settle),
                    .init(id: second.community.communityID.string, settleSeconds: settle),
                ])
        }

        func stop() async {
            await codexNode.stop()
            await wakuNode.stop()
        }
    }

    /// The bundled community and a small second one (seed 2), both uploaded to a Codex node.
    static func setUp() async throws -> Setup {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID().uuidString)")
        let secondFixture = scratch.appendingPathComponent("second-community")
        try FixtureGenerator(configuration: .init(seed: 2, weeks: 6, messagesPerWeek: 100)).write(to: secondFixture)
        let codexNode = try await DemoCodexNode.start(directory: scratch.appendingPathComponent("codex"))
        let wakuNode = try await DemoWakuNode.start(maxPageSize: 50)
        let first = try CommunityPublisher(fixture: try FixtureDirectory(url: bundled))
        let second = try CommunityPublisher(fixture: try FixtureDirectory(url: secondFixture))
        let codex = CodexClient(baseURL: codexNode.baseURL)
        try await first.uploadBlobs(to: codex)
        try await second.uploadBlobs(to: codex)
        return Setup(scratch: scratch, codexNode: codexNode, wakuNode: wakuNode, first: first, second: second)
    }

    static func waitUntil(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The agent against the 2025 storage node (Codex, `/api/codex/v1`, the 2025 manifest layout)
    /// with nothing but its address under the new name `storageURL`; the other tests meet the
    /// current generation (Logos Storage), the demo node's default.
    @Test func followsACommunityOnA2025StorageNode() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("agent-2025-\(UUID().uuidString)")
        let fixture = scratch.appendingPathComponent("community")
        try FixtureGenerator(configuration: .init(seed: 2, weeks: 6, messagesPerWeek: 100, layout: .codex2025)).write(to: fixture)
        let codexNode = try await DemoCodexNode.start(directory: scratch.appendingPathComponent("codex"), generation: .codex2025)
        let wakuNode = try await DemoWakuNode.start(maxPageSize: 50)
        let publisher = try CommunityPublisher(fixture: try FixtureDirectory(url: fixture))
        try await publisher.uploadBlobs(to: CodexClient(baseURL: codexNode.baseURL))
        try await publisher.announce(on: WakuClient(baseURL: wakuNode.baseURL), clock: UInt64(Date().timeIntervalSince1970 * 1000))
        let configuration = AgentConfiguration(
            storageURL: codexNode.baseURL.absoluteString, wakuURL: wakuNode.baseURL.absoluteString,
            database: scratch.appendingPathComponent("history.sqlite").path, relayPollSeconds: 0.1, storeCatchUpSeconds: 2,
            diskMarginBytes: 0, communities: [.init(id: publisher.community.communityID.string, settleSeconds: 0.3)])
        let agent = try await HistoryAgent(configuration: configuration)
        let running = Task { try await agent.run() }
        let database = try HistoryDatabase(path: configuration.database!)
        try await Self.waitUntil { try database.importedArchiveIDs(communityID: publisher.community.communityID.string).count == 6 }
        running.cancel()
        try? await running.value
        await codexNode.stop()
        await wakuNode.stop()
    }

    @Test func followsTwoCommunitiesAndPicksUpALiveAnnouncement() async throws {
        let setup = try await Self.setUp()
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        // The first community announced before the agent started (found by the store catch-up).
        try await setup.first.announce(on: setup.waku, clock: now)

        let eventsPath = setup.scratch.appendingPathComponent("events.jsonl").path
        let configuration = setup.configuration()
        let agent = try await HistoryAgent(configuration: configuration, events: try EventLog(path: eventsPath))
        let running = Task { try await agent.run() }
        let database = try HistoryDatabase(path: configuration.database!)
        let firstID = setup.first.community.communityID.string, secondID = setup.second.community.communityID.string

        try await Self.waitUntil { try database.importedArchiveIDs(communityID: firstID).count == 9 }
        #expect(try database.importedArchiveIDs(communityID: secondID).isEmpty)

        // The second community's control node announces now: live, over the relay.
        // (That it waits the quiet window first is the machine's rule, tested without a clock in
        // CommunitySyncMachineTests; no wall-clock bound here.)
        try await setup.second.announce(on: setup.waku, clock: now + 1)
        try await Self.waitUntil { try database.importedArchiveIDs(communityID: secondID).count == 6 }

        // Metrics over HTTP reflect what happened.
        let port = try #require(agent.metricsPort.port)
        let (body, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        let metrics = String(decoding: body, as: UTF8.self)
        #expect(metrics.contains("community_history_archives_imported_total{community=\"\(firstID)\"} 9"))
        #expect(metrics.contains("community_history_archives_imported_total{community=\"\(secondID)\"} 6"))
        // The fixture's encrypted archive waits for its key: not failed, not unimportable.
        #expect(metrics.contains("community_history_archives_waiting_for_key{community=\"\(firstID)\"} 1"))
        #expect(metrics.contains("community_history_archives_unimportable{community=\"\(firstID)\"} 0"))
        #expect(!metrics.contains("community_history_archives_failed_total{community=\"\(firstID)\""))
        // Every event reached the events file (a field it cannot encode would be counted here).
        #expect(metrics.contains("community_history_event_write_failures_total 0\n"))
        // Every import's scratch file was deleted, and the imports held the write lock for some time.
        #expect(metrics.contains("community_history_staging_files_left_total 0\n"))
        let lockLine = metrics.split(separator: "\n").first { $0.hasPrefix("community_history_import_write_lock_longest_seconds ") }
        #expect((lockLine?.split(separator: " ").last.flatMap { Double($0) } ?? 0) > 0, "\(metrics)")
        // Everything importable is in (issue 9 defect 9): a success, and idle, not stalled.
        #expect(metrics.contains("community_history_last_success_timestamp_seconds{community=\"\(firstID)\"}"))
        #expect(metrics.contains("community_history_state{community=\"\(firstID)\",state=\"idle\"} 1"))
        #expect(metrics.contains("community_history_messages_rejected_total{community=\"\(firstID)\",reason=\"invalid-signature\"} 1"))
        let (health, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!)
        #expect(String(decoding: health, as: UTF8.self).contains("ok"))

        running.cancel()
        try? await running.value
        await setup.stop()

        // The events stream has the moments a chat client follows, per community.
        let lines = try String(contentsOfFile: eventsPath, encoding: .utf8).split(separator: "\n")
        let events = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        // Each is what the event schema documents (docs/events.schema.json).
        let schema = try OpenAPIContract.events()
        for line in lines {
            let problems = schema.problems(of: try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)))
            #expect(problems.isEmpty, "\(line): \(problems)")
        }
        func names(_ community: String) -> [String] { events.filter { $0["community"] as? String == community }.compactMap { $0["event"] as? String } }
        for name in ["announcement.accepted", "index.downloaded", "download.started", "archive.downloaded", "archive.importing", "archive.imported"] {
            #expect(names(firstID).contains(name), "\(name)")
            #expect(names(secondID).contains(name), "\(name)")
        }
        // Every generated community has one encrypted archive: reported as waiting for its key, and
        // the plan finishes (it does not fail) with it listed.
        #expect(names(firstID).contains("finished") && names(secondID).contains("finished"))
        #expect(!names(firstID).contains("failed") && !names(secondID).contains("failed"))
        #expect(names(secondID).contains("key.waiting") && !names(secondID).contains("archive.failed"))
        let finished = events.first { $0["community"] as? String == secondID && $0["event"] as? String == "finished" }
        #expect((finished?["waitingForKey"] as? [String])?.count == 1 && (finished?["unimportable"] as? [String])?.isEmpty == true)
        #expect(events.first?["event"] as? String == "agent.started")
        #expect(events.last?["event"] as? String == "agent.stopped")

        let statuses = try await database.communityStatuses()
        let second = try #require(statuses.first { $0.communityID == secondID })
        #expect(second.indexCID == setup.second.indexCID && second.archivesImported == 6)
        #expect(second.archivesUnimportable == 0 && second.archivesFailed == 0)
        // The encrypted archive waits; so does the encrypted message planted in another (held raw).
        #expect(Set(second.keyWaits.map(\.kind)) == [.archive, .messages] && second.keyWaits.allSatisfy { $0.groupID == secondID })
        let first = try #require(statuses.first { $0.communityID == firstID })
        #expect(first.lastError == nil && first.lastSuccessAt != nil, "last ok: everything importable is in")
    }

    @Test func resubscribesWhenTheWakuNodeRestarts() async throws {
        let setup = try await Self.setUp()
        var configuration = setup.configuration(metricsPort: nil)
        configuration.communities = [configuration.communities[1]]
        configuration.storeCatchUpSeconds = 3600  // only the relay can deliver the announcement
        let agent = try await HistoryAgent(configuration: configuration)
        let running = Task { try await agent.run() }
        let shard = WakuClient.defaultPubsubTopic
        try await Self.waitUntil { await setup.wakuNode.isSubscribed(pubsubTopic: shard) }

        // The node restarts on the same port and has forgotten every subscription.
        let port = setup.wakuNode.server.port
        await setup.wakuNode.stop()
        let restarted = try await DemoWakuNode.start(port: port)
        try await Self.waitUntil { await restarted.isSubscribed(pubsubTopic: shard) }
        try await setup.second.announce(on: WakuClient(baseURL: restarted.baseURL), clock: UInt64(Date().timeIntervalSince1970 * 1000))
        let database = try HistoryDatabase(path: configuration.database!)
        try await Self.waitUntil { try database.importedArchiveIDs(communityID: setup.second.community.communityID.string).count == 6 }

        running.cancel()
        try? await running.value
        await restarted.stop()
        await setup.codexNode.stop()
    }

    /// Regression (issue 9): a community whose sync could not start (here its archives directory
    /// cannot be made: a file is in the way) was logged once and never followed again until the
    /// agent restarted. Now it is started again after a growing delay, and its status says why.
    @Test func aCommunityThatCannotStartIsStartedAgainOnceTheCauseIsGone() async throws {
        let setup = try await Self.setUp()
        try await setup.first.announce(on: setup.waku, clock: UInt64(Date().timeIntervalSince1970 * 1000))
        var configuration = setup.configuration(metricsPort: nil)
        configuration.communities = [configuration.communities[0]]
        let communityID = setup.first.community.communityID.string
        let archives = URL(fileURLWithPath: configuration.database! + ".archives")
        try FileManager.default.createDirectory(at: archives, withIntermediateDirectories: true)
        let blocker = archives.appendingPathComponent(String(communityID.prefix(18)))
        try Data("not a directory".utf8).write(to: blocker)
        let eventsPath = setup.scratch.appendingPathComponent("events.jsonl").path
        func startFailures() -> Int {
            ((try? String(contentsOfFile: eventsPath, encoding: .utf8)) ?? "").components(separatedBy: "\"community.start-failed\"").count - 1
        }
        let agent = try await HistoryAgent(
            configuration: configuration, events: try EventLog(path: eventsPath),
            startRetry: RetryPolicy(maxAttempts: .max, initialDelay: .milliseconds(50), multiplier: 2, maxDelay: .milliseconds(200)))
        let running = Task { try await agent.run() }
        defer { running.cancel() }

        try await Self.waitUntil { startFailures() >= 2 }
        let database = try HistoryDatabase(path: configuration.database!)
        #expect(try await database.communityStatuses().first { $0.communityID == communityID }?.lastError?.contains("cannot start") == true)
        #expect(try database.importedArchiveIDs(communityID: communityID).isEmpty)

        try FileManager.default.removeItem(at: blocker)
        try await Self.waitUntil { try database.importedArchiveIDs(communityID: communityID).count == 9 }
        running.cancel()
        try? await running.value
        await setup.stop()
    }

    /// Regression: the agent subscribed through `/relay/v1/auto/*`, which under static sharding
    /// answers 500 (and under autosharding picks shard 0/4/60, never 32): live announcements
    /// never arrived. Now they come through the pubsub-topic relay API alone: the announcement
    /// is stamped an hour ahead, outside every store query's window, so the store cannot deliver it.
    @Test func aLiveAnnouncementArrivesThroughThePubsubTopicRelay() async throws {
        let setup = try await Self.setUp()
        var configuration = setup.configuration(metricsPort: nil)
        configuration.communities = [configuration.communities[1]]
        configuration.storeCatchUpSeconds = 1
        let agent = try await HistoryAgent(configuration: configuration)
        let running = Task { try await agent.run() }
        try await Self.waitUntil { await setup.wakuNode.isSubscribed(pubsubTopic: "/waku/2/rs/16/32") }
        try await setup.second.announce(on: setup.waku, clock: UInt64(Date().timeIntervalSince1970 * 1000),
                                        timestamp: Date(timeIntervalSinceNow: 3600))
        let database = try HistoryDatabase(path: configuration.database!)
        try await Self.waitUntil { try database.importedArchiveIDs(communityID: setup.second.community.communityID.string).count == 6 }
        running.cancel()
        try? await running.value
        // Stopping does not drop the node's subscription: it may be the user's own.
        #expect(await setup.wakuNode.isSubscribed(pubsubTopic: "/waku/2/rs/16/32"))
        await setup.stop()
    }

    /// Regression: 6 communities put 12 content topics in one store query; nwaku refuses page 2
    /// of such a query and the pages already fetched were thrown away. Announcements made
    /// before the agent started (so only the store has them) are all found, 2 per page.
    @Test func sixCommunitiesCatchUpThroughStorePagesOfTwo() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("agent-six-\(UUID().uuidString)")
        let codexNode = try await DemoCodexNode.start(directory: scratch.appendingPathComponent("codex"), missingLookup: .seconds(1))
        let wakuNode = try await DemoWakuNode.start(maxPageSize: 2)
        let waku = WakuClient(baseURL: wakuNode.baseURL)
        var publishers: [CommunityPublisher] = []
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        for seed in UInt64(11)...16 {
            let directory = scratch.appendingPathComponent("community-\(seed)")
            try FixtureGenerator(configuration: .init(seed: seed, weeks: 1, messagesPerWeek: 10)).write(to: directory)
            let publisher = try CommunityPublisher(fixture: try FixtureDirectory(url: directory))
            try await publisher.uploadBlobs(to: CodexClient(baseURL: codexNode.baseURL))
            // Two announcements each (an older one first): more than one page per group of topics.
            try await publisher.announce(on: waku, clock: now - 10, timestamp: Date(timeIntervalSinceNow: -60))
            try await publisher.announce(on: waku, clock: now)
            publishers.append(publisher)
        }
        let configuration = AgentConfiguration(
            codexURL: codexNode.baseURL.absoluteString, wakuURL: wakuNode.baseURL.absoluteString,
            database: scratch.appendingPathComponent("history.sqlite").path, relayPollSeconds: 0.1, storeCatchUpSeconds: 3600,
            diskMarginBytes: 0, communities: publishers.map { .init(id: $0.community.communityID.string, settleSeconds: 0.2) })
        let agent = try await HistoryAgent(configuration: configuration)
        let running = Task { try await agent.run() }
        let database = try HistoryDatabase(path: configuration.database!)
        try await Self.waitUntil {
            try publishers.allSatisfy { try database.importedArchiveIDs(communityID: $0.community.communityID.string).count == 1 }
        }
        running.cancel()
        try? await running.value
        await codexNode.stop()
        await wakuNode.stop()
    }

    @Test func sigtermDuringImportLeavesAConsistentDatabaseAndARestartFinishes() async throws {
        let setup = try await Self.setUp()
        try await setup.first.announce(on: setup.waku, clock: UInt64(Date().timeIntervalSince1970 * 1000))
        var configuration = setup.configuration(settle: 0.2, metricsPort: nil)
        configuration.communities = [configuration.communities[0]]
        let configPath = setup.scratch.appendingPathComponent("agent.json")
        try JSONEncoder().encode(configuration).write(to: URL(fileURLWithPath: configPath.path))
        let eventsPath = setup.scratch.appendingPathComponent("events.jsonl").path
        let binary = try Self.requireBuilt()

        func launch() throws -> Process {
            let process = Process()
            process.executableURL = binary
            process.arguments = ["agent", "--config", configPath.path, "--events", eventsPath, "--log-level", "error"]
            try process.run()
            return process
        }
        func eventCount(_ name: String) -> Int {
            ((try? String(contentsOfFile: eventsPath, encoding: .utf8)) ?? "").components(separatedBy: "\"event\":\"\(name)\"").count - 1
        }

        let first = try launch()
        // A failed expectation must not leave the agent running (it would hold the test runner's pipes).
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
        try await Self.waitUntil { eventCount("archive.importing") >= 2 }
        first.terminate()  // SIGTERM
        // Prompt: it stops mid-import (rolling it back) rather than finishing the archives left;
        // the deadline only keeps a hung agent from hanging the test.
        try await Self.waitUntil(timeout: .seconds(30)) { !first.isRunning }
        #expect(first.terminationStatus == 0)
        #expect(eventCount("agent.stopped") == 1)

        // Consistent: every imported archive's messages are all there, and no message belongs
        // to an archive that is not recorded as imported.
        let database = try HistoryDatabase(path: configuration.database!)
        let communityID = setup.first.community.communityID.string
        let imported = try database.importedArchives(communityID: communityID)
        #expect(imported.count < 9)
        try database.read { db in
            #expect(try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok")
            for archive in imported {
                let rows = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message WHERE archive_id = ?", arguments: [archive.id]) ?? 0
                #expect(rows == archive.storedCount)
            }
            let orphans = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message WHERE archive_id NOT IN (SELECT id FROM imported_archive)") ?? 0
            #expect(orphans == 0)
        }

        // A restart resumes and finishes the work.
        let second = try launch()
        defer { if second.isRunning { kill(second.processIdentifier, SIGKILL) } }
        try await Self.waitUntil { try database.importedArchiveIDs(communityID: communityID).count == 9 }
        second.terminate()
        try await Self.waitUntil(timeout: .seconds(10)) { !second.isRunning }
        await setup.stop()
        #expect(try database.messageCount(communityID: communityID) == 5404)
    }

    @Test func demoNetworkServesAFixtureUntilSIGTERM() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("demo-network-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let configPath = scratch.appendingPathComponent("demo-agent.json").path
        let binary = try Self.requireBuilt()
        let network = Process()
        network.executableURL = binary
        network.arguments = ["demo-network", "--fixture", Self.bundled.path, "--agent-config", configPath,
                             "--agent-db", scratch.appendingPathComponent("history.sqlite").path]
        network.standardOutput = FileHandle.nullDevice
        try network.run()
        defer { if network.isRunning { network.terminate() } }

        // The configuration it writes points at its nodes: a sync against them gets the whole fixture.
        try await Self.waitUntil(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: configPath) }
        let configuration = try AgentConfiguration.load(path: configPath)
        let communityID = try #require(configuration.communities.first).communityID()
        let database = try HistoryDatabase(path: configuration.database!)
        let options = OneShotSync.Options(communityID: communityID, quietWindow: .milliseconds(100),
                                          archivesDirectory: scratch.appendingPathComponent("archives"))
        let report = try await OneShotSync(
            options: options, waku: WakuClient(baseURL: URL(string: configuration.wakuURL!)!),
            codex: CodexClient(baseURL: URL(string: configuration.storageNodeURL)!), database: database).run()
        #expect(report.announcements.accepted == 1)
        #expect(report.archives.imported == 9 && report.messages.stored == 5404)

        network.terminate()  // SIGTERM
        try await Self.waitUntil(timeout: .seconds(10)) { !network.isRunning }
        #expect(network.terminationStatus == 0)
    }
}
