import AgentAPI
import AgentService
import ArchiveImport
import AsyncHTTPClient
import CodexClient
import ControlNode
import DemoNetwork
import Fixtures
import Foundation
import HistoryStore
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import UnixSignals
import WakuClient

/// The local API played by a chat client, over the agent's Unix socket (and its token-guarded
/// TCP listener), against the demo network. Every response is checked against
/// `docs/agent-api.openapi.json` (`APIClient`).
@Suite(.serialized, .timeLimit(.minutes(5))) struct AgentAPITests {
    struct Running {
        let agent: HistoryAgent
        let server: LocalAPIServer
        let group: ServiceGroup
        let task: Task<Void, any Error>

        /// As SIGTERM does: a graceful shutdown of the service group, the agent first.
        func stop() async throws {
            await group.triggerGracefulShutdown()
            try await task.value
        }
    }

    /// The agent and its API in one service group, as `community-history agent` runs them.
    static func start(_ configuration: AgentConfiguration, events: EventLog = EventLog(), extra: [any Service] = []) async throws -> Running {
        let agent = try await HistoryAgent(configuration: configuration, events: events)
        let server = LocalAPIServer(api: AgentAPI(agent: agent, heartbeat: .milliseconds(200)), socketPath: configuration.apiSocketPath,
                                    port: configuration.apiPort, cookiePath: configuration.cookiePath)
        let services: [any Service] = [server] + extra + [agent]
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [], logger: Logger(label: "test"))
        let task = Task { try await group.run() }
        await server.waitUntilListening()
        return Running(agent: agent, server: server, group: group, task: task)
    }

    static func localCopiesJSON(_ messages: [StoredMessage]) -> String {
        let items = messages.map { message -> [String: Any] in
            var item: [String: Any] = ["id": message.id, "contentTopic": message.contentTopic, "author": message.author, "type": message.type,
                                       "timestamp": message.timestamp, "payload": message.payload.base64EncodedString()]
            item["chatID"] = message.chatID
            item["clock"] = message.clock
            item["text"] = message.text
            return item
        }
        return String(decoding: try! JSONSerialization.data(withJSONObject: ["messages": items]), as: UTF8.self)
    }

    @Test func theDocumentDescribesEveryRouteTheServerServesAndOnlyThose() throws {
        let contract = try OpenAPIContract()
        #expect(contract.routes == Set((AgentAPI.routes + AgentAPI.pageRoutes).map(\.description)))
        let unknown = contract.keywordsUsed.subtracting(OpenAPIContract.checked).subtracting(OpenAPIContract.documentary)
        #expect(unknown.isEmpty, "the tests' checker does not know \(unknown)")
    }

    @Test func aChatClientJoinsPostsLocalCopiesFollowsEventsPagesMessagesAndLeaves() async throws {
        let setup = try await AgentTests.setUp()
        let communityID = setup.first.community.communityID.string
        try await setup.first.announce(on: setup.waku, clock: UInt64(Date().timeIntervalSince1970 * 1000))
        try await setup.first.describe(on: setup.waku, clock: 7)
        var configuration = setup.configuration(metricsPort: nil)
        configuration.communities = []
        let running = try await Self.start(configuration)
        let http = HTTPClient.shared
        let socketPath = try #require(configuration.apiSocketPath)
        let client = APIClient(http: http, socketPath: socketPath, contract: try OpenAPIContract())

        // Only the user can connect.
        var info = stat()
        #expect(stat(socketPath, &info) == 0 && info.st_mode & 0o777 == 0o600)

        let health = try await client.request(.GET, "/v1/health")
        #expect(health.status == 200 && health.json?["status"]?.stringValue == "ok", "\(health.text)")
        #expect(try await client.request(.GET, "/v1/communities").json?["communities"] == .array([]))

        var events = try await client.events().makeAsyncIterator()

        let join = try await client.request(.POST, "/v1/communities", json: #"{"id":"\#(communityID.uppercased().replacingOccurrences(of: "0X", with: "0x"))","settleSeconds":0.3}"#)
        #expect(join.status == 201 && join.json?["outcome"]?.stringValue == "joined", "\(join.text)")
        #expect(join.json?["community"]?["origin"]?.stringValue == "api")
        let again = try await client.request(.POST, "/v1/communities", json: #"{"id":"\#(communityID)","settleSeconds":0.3}"#)
        #expect(again.status == 200 && again.json?["outcome"]?.stringValue == "unchanged")

        // What the chat client received live, posted twice: stored once.
        let copies = try setup.first.fixture.localMessages()
        let posted = try await client.request(.POST, "/v1/communities/\(communityID)/local-messages", json: Self.localCopiesJSON(copies))
        #expect(posted.status == 200 && posted.json?["inserted"]?.intValue == Int64(copies.count) && posted.json?["alreadyStored"]?.intValue == 0, "\(posted.text)")
        let reposted = try await client.request(.POST, "/v1/communities/\(communityID)/local-messages", json: Self.localCopiesJSON(copies))
        #expect(reposted.json?["inserted"]?.intValue == 0 && reposted.json?["alreadyStored"]?.intValue == Int64(copies.count))

        // The events arrive as the agent works, until the plan is finished.
        var seen: [(id: String?, name: String)] = []
        while let event = try await events.next() {
            #expect(event.data?["schemaVersion"] == .integer(1), "every event says its format's version")
            guard event.data?["community"]?.stringValue == communityID else { continue }
            seen.append((event.id, event.name))
            if event.name == "finished" { break }
        }
        let names = seen.map(\.name)
        #expect(names.first == "community.joined")
        #expect(names.filter { $0 == "archive.imported" }.count == 9, "\(names)")

        let status = try await client.request(.GET, "/v1/communities/\(communityID)")
        #expect(status.json?["history"]?["archivesImported"]?.intValue == 9, "\(status.text)")
        let messageCount = try #require(status.json?["history"]?["messageCount"]?.intValue)

        // Paging the whole history, newest first, walks every message once.
        var all: [JSONValue] = []
        var before: String?
        repeat {
            let page = try await client.request(.GET, "/v1/communities/\(communityID)/messages?limit=400" + (before.map { "&before=\($0)" } ?? ""))
            all += page.json?["messages"]?.arrayValue ?? []
            before = page.json?["before"]?.stringValue
        } while before != nil
        #expect(all.count == Int(messageCount))
        let keys = all.map { ($0["timestamp"]?.intValue ?? 0, $0["id"]?.stringValue ?? "") }
        #expect(zip(keys, keys.dropFirst()).allSatisfy { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 > $1.1) }, "newest first, no repeats")
        // The local copies met the archives: 45 replaced, 15 removed, 7 kept (the fixture's manifest).
        let byID = Dictionary(all.map { ($0["id"]?.stringValue ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        let fates = copies.map { byID[$0.id]?["source"]?.stringValue ?? "gone" }
        let replaced = fates.filter { $0 == "archive" }.count, removed = fates.filter { $0 == "gone" }.count
        let kept = fates.filter { $0 == "local" }.count
        #expect(replaced == 45 && removed == 15 && kept == 7)
        #expect(all.contains { $0["typeName"]?.stringValue == "chat-message" } && all.contains { $0["typeName"]?.stringValue == "emoji-reaction" })

        // One channel, by the UUID the messages show; and the page just newer than a cursor.
        let channels: [String] = all.compactMap { $0["channel"]?.stringValue }
        let channel = try #require(channels.first)
        let inChannel = try await client.request(.GET, "/v1/communities/\(communityID)/messages?limit=1000&channel=\(channel)")
        let channelIDs = inChannel.json?["messages"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        let expectedInChannel: [String] = all.filter { $0["channel"]?.stringValue == channel }.prefix(1000).compactMap { $0["id"]?.stringValue }
        #expect(!channelIDs.isEmpty && channelIDs == expectedInChannel)
        // Channels by the names of the community's description; a name selects its channel too.
        #expect(Set(all.compactMap { $0["channelName"]?.stringValue }) == ["general", "dev", "random"])
        let named = try #require(all.first { $0["channel"]?.stringValue == channel }?["channelName"]?.stringValue)
        let byName = try await client.request(.GET, "/v1/communities/\(communityID)/messages?limit=1000&channel=%23\(named)")
        #expect(byName.json?["messages"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == channelIDs)
        // A newer description, relayed live, renames a channel (the agent polls its relay every 0.1 s).
        try await setup.first.describe(on: setup.waku, clock: 8, names: ["lobby", "dev", "random"])
        var renamed = false
        for _ in 0..<200 where !renamed {
            let page = try await client.request(.GET, "/v1/communities/\(communityID)/messages?limit=1000")
            renamed = page.json?["messages"]?.arrayValue?.contains { $0["channelName"]?.stringValue == "lobby" } == true
            if !renamed { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(renamed, "the relayed description renamed #general")
        let cursor = try #require(all[10]["cursor"]?.stringValue)
        let newer = try await client.request(.GET, "/v1/communities/\(communityID)/messages?limit=5&after=\(cursor)")
        #expect(newer.json?["messages"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == all[5..<10].compactMap { $0["id"]?.stringValue })

        // Refusals are JSON with a code to decide on.
        let badCursor = try await client.request(.GET, "/v1/communities/\(communityID)/messages?before=yesterday")
        #expect(badCursor.status == 400 && badCursor.json?["error"]?["code"]?.stringValue == "bad-request")
        #expect(try await client.request(.GET, "/v1/communities/\(communityID)/messages?limit=0").status == 400)
        let badJoin = try await client.request(.POST, "/v1/communities", json: #"{"id":"0x02","mode":"all"}"#)
        #expect(badJoin.status == 400 && badJoin.json?["error"]?["code"]?.stringValue == "invalid-settings")
        let badField = try await client.request(.POST, "/v1/communities", json: #"{"mode":"all"}"#)
        #expect(badField.status == 400 && badField.json?["error"]?["message"]?.stringValue?.contains("id is missing") == true, "\(badField.text)")
        let other = setup.second.community.communityID.string
        #expect(try await client.request(.GET, "/v1/communities/\(other)/messages").json?["error"]?["code"]?.stringValue == "not-followed")
        #expect(try await client.request(.DELETE, "/v1/communities/\(other)").status == 404)
        let badCopy = try await client.request(.POST, "/v1/communities/\(communityID)/local-messages",
                                               json: #"{"messages":[{"id":"0x01","contentTopic":"t","author":"bob","type":1,"timestamp":1}]}"#)
        #expect(badCopy.status == 400 && badCopy.json?["error"]?["message"]?.stringValue?.contains("messages[0]: author") == true)

        // A reader that reconnects gets what it missed, from the event after the last it saw.
        let imported = try #require(seen.first { $0.name == "archive.imported" }?.id)
        var resumed = try await client.events(lastEventID: imported).makeAsyncIterator()
        let next = try #require(try await resumed.next())
        let sequence = { (id: String?) in Int(id?.split(separator: "-").last ?? "") ?? -1 }
        #expect(sequence(next.id) == sequence(imported) + 1)
        // One from another run of the agent is told to read the state again.
        var stale = try await client.events(lastEventID: "1-5").makeAsyncIterator()
        #expect(try await stale.next()?.name == "reset")

        let metrics = try await client.request(.GET, "/v1/metrics")
        #expect(metrics.text.contains("community_history_archives_imported_total{community=\"\(communityID)\"} 9"))

        // Leaving with purge deletes the community's history.
        let leave = try await client.request(.DELETE, "/v1/communities/\(communityID)?purge=true")
        #expect(leave.status == 200 && leave.json?["messagesDeleted"]?.intValue == messageCount, "\(leave.text)")
        #expect(try await client.request(.GET, "/v1/communities").json?["communities"] == .array([]))
        #expect(try await client.request(.GET, "/v1/communities/\(communityID)/messages").status == 404)
        while let event = try await events.next(), event.name != "community.left" {}
        #expect(try running.agent.history.messageCount(communityID: communityID) == 0)

        // A graceful stop ends the event stream (the agent stops first) and takes the socket away.
        try await running.stop()
        var rest: [String] = []
        while let event = try await events.next() { rest.append(event.name) }
        #expect(rest.last == "agent.stopped", "\(rest)")
        #expect(!FileManager.default.fileExists(atPath: socketPath), "the socket goes with the agent")
        await setup.stop()
    }

    @Test func joinedCommunitiesSurviveARestartAndTheTCPListenerWantsTheToken() async throws {
        let setup = try await AgentTests.setUp()
        let fileCommunity = setup.second.community.communityID.string, joined = setup.first.community.communityID.string
        var configuration = setup.configuration(metricsPort: nil)
        configuration.communities = [configuration.communities[1]]
        configuration.apiPort = 0
        let http = HTTPClient.shared
        let contract = try OpenAPIContract()

        var running = try await Self.start(configuration)
        var client = APIClient(http: http, socketPath: configuration.apiSocketPath!, contract: contract)
        #expect(try await client.request(.POST, "/v1/communities", json: #"{"id":"\#(joined)","mode":"latest"}"#).status == 201)
        // The configuration file's community is changed in the file, not here.
        let refused = try await client.request(.DELETE, "/v1/communities/\(fileCommunity)")
        #expect(refused.status == 409 && refused.json?["error"]?["code"]?.stringValue == "set-in-configuration")
        #expect(refused.json?["error"]?["retryable"] == .bool(false))

        // TCP: refused without the token, served with the one in the cookie file (mode 0600).
        let port = try #require(running.server.listeningPort.withLock { $0 })
        let anonymous = APIClient(http: http, port: port, contract: contract, token: nil)
        let unauthorized = try await anonymous.request(.GET, "/v1/communities")
        #expect(unauthorized.status == 401 && unauthorized.json?["error"]?["code"]?.stringValue == "unauthorized")
        #expect(try await APIClient(http: http, port: port, contract: contract, token: "0" + String(repeating: "f", count: 63)).request(.GET, "/v1/communities").status == 401)
        let token = try String(contentsOfFile: configuration.cookiePath, encoding: .utf8)
        var info = stat()
        #expect(stat(configuration.cookiePath, &info) == 0 && info.st_mode & 0o777 == 0o600)
        let authorized = try await APIClient(http: http, port: port, contract: contract, token: token).request(.GET, "/v1/communities")
        #expect(authorized.status == 200 && authorized.json?["communities"]?.arrayValue?.count == 2)
        // Unknown keys are refused, as in the configuration file: a typo must not join with defaults.
        let typo = try await client.request(.POST, "/v1/communities", json: #"{"id":"\#(joined)","hydraton":"merge"}"#)
        #expect(typo.status == 400 && typo.json?["error"]?["message"]?.stringValue?.contains("did you mean \"hydration\"") == true, "\(typo.text)")
        try await running.stop()

        // A restart follows the joined community again, with its settings.
        running = try await Self.start(configuration)
        client = APIClient(http: http, socketPath: configuration.apiSocketPath!, contract: contract)
        let list = try await client.request(.GET, "/v1/communities").json?["communities"]?.arrayValue ?? []
        var origins: [String: String] = [:]
        for item in list { origins[item["communityID"]?.stringValue ?? ""] = item["origin"]?.stringValue }
        #expect(origins == [fileCommunity: "configuration", joined: "api"])
        #expect(list.first { $0["communityID"]?.stringValue == joined }?["settings"]?["mode"]?.stringValue == "latest")
        #expect(try await client.request(.DELETE, "/v1/communities/\(joined)").json?["purged"] == .bool(false))
        // While a rescan restarts it, the community is still there (listed, readable), never a 404.
        #expect(try await client.request(.POST, "/v1/communities/\(fileCommunity)/rescan").status == 202)
        let during = try await client.request(.GET, "/v1/communities/\(fileCommunity)")
        #expect(during.status == 200, "\(during.text)")
        #expect(try await client.request(.GET, "/v1/communities/\(fileCommunity)/messages").status == 200)
        try await running.stop()
        await setup.stop()
    }

    /// Issue 29: the community list comes a page at a time (`limit`, `after`, `next`), in ID order:
    /// a chat client beside a thousand communities reads fifty, not every status.
    @Test func theCommunityListIsPaged() async throws {
        let setup = try await AgentTests.setUp()
        let configuration = setup.configuration(metricsPort: nil)
        let running = try await Self.start(configuration)
        let client = APIClient(http: HTTPClient.shared, socketPath: configuration.apiSocketPath!, contract: try OpenAPIContract())
        let ids = [setup.first.community.communityID.string, setup.second.community.communityID.string].sorted()

        let first = try await client.request(.GET, "/v1/communities?limit=1")
        #expect(first.status == 200 && first.json?["communities"]?.arrayValue?.map { $0["communityID"]?.stringValue } == [ids[0]])
        #expect(first.json?["next"]?.stringValue == ids[0])
        let second = try await client.request(.GET, "/v1/communities?limit=1&after=\(ids[0])")
        #expect(second.json?["communities"]?.arrayValue?.map { $0["communityID"]?.stringValue } == [ids[1]])
        #expect(second.json?["next"] == nil, "the last page says no next")
        #expect(try await client.request(.GET, "/v1/communities").json?["communities"]?.arrayValue?.count == 2, "no limit: all")
        for bad in ["limit=0", "limit=1001", "limit=x", "after=0x02"] {
            let answer = try await client.request(.GET, "/v1/communities?\(bad)")
            #expect(answer.status == 400 && answer.json?["error"]?["code"]?.stringValue == "bad-request", "\(bad): \(answer.text)")
        }
        try await running.stop()
        await setup.stop()
    }

    /// Issue 12: the chat client hands the agent an encrypted community's keys through the API;
    /// the community, waiting for them (not retrying), imports its history at once.
    @Test func keysPostedThroughTheAPIImportAWaitingEncryptedCommunity() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("api-keys-\(UUID().uuidString)")
        let fixture = scratch.appendingPathComponent("community")
        let summary = try EncryptedFixtureGenerator().write(to: fixture)
        let codexNode = try await DemoCodexNode.start(directory: scratch.appendingPathComponent("codex"))
        let wakuNode = try await DemoWakuNode.start()
        let publisher = try CommunityPublisher(fixture: try FixtureDirectory(url: fixture))
        try await publisher.uploadBlobs(to: CodexClient(baseURL: codexNode.baseURL))
        try await publisher.announce(on: WakuClient(baseURL: wakuNode.baseURL), clock: UInt64(Date().timeIntervalSince1970 * 1000))
        let id = publisher.community.communityID.string
        let configuration = AgentConfiguration(
            codexURL: codexNode.baseURL.absoluteString, wakuURL: wakuNode.baseURL.absoluteString,
            database: scratch.appendingPathComponent("history.sqlite").path, relayPollSeconds: 0.1, storeCatchUpSeconds: 2,
            diskMarginBytes: 0, communities: [.init(id: id, settleSeconds: 0.3)])
        let lines = EventLines()
        let running = try await Self.start(configuration, events: EventLog(writer: { lines.append($0) }))
        let client = APIClient(http: HTTPClient.shared, socketPath: configuration.apiSocketPath!, contract: try OpenAPIContract())

        // Without its key the index waits: said by an event, the community's state and its history.
        try await AgentTests.waitUntil { lines.names.contains("key.waiting") }
        let waiting = try await client.request(.GET, "/v1/communities/\(id)")
        #expect(waiting.json?["state"]?.stringValue == "waiting-for-key", "\(waiting.text)")
        let waits = waiting.json?["history"]?["waitingForKeys"]?.arrayValue ?? []
        #expect(waits.count == 1 && waits.first?["kind"]?.stringValue == "index" && waits.first?["keyID"]?.stringValue == summary.keyIDs[1])

        // Review: an entry that is not an object made the JSON serializer call fatalError (the agent died).
        let notObjects = try await client.request(.POST, "/v1/keys", json: #"{"keys":[1,"x"]}"#)
        #expect(notObjects.status == 400 && notObjects.json?["error"]?["code"]?.stringValue == "bad-request", "\(notObjects.text)")
        // A bad entry is refused, naming it, and adds nothing.
        let bad = try await client.request(.POST, "/v1/keys", json: #"{"keys":[{"groupID":"0x01","timestamp":1,"key":"0x00"}]}"#)
        #expect(bad.status == 400 && bad.json?["error"]?["code"]?.stringValue == "invalid-keys" && bad.text.contains("entry 1"), "\(bad.text)")

        // The keys file's lines, as the chat client would send them.
        let keyLines = try String(contentsOf: fixture.appendingPathComponent(EncryptedFixtureGenerator.keysFile), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let posted = try await client.request(.POST, "/v1/keys", json: #"{"keys":["# + keyLines.joined(separator: ",") + "]}")
        #expect(posted.status == 200 && posted.json?["added"]?.intValue == 3, "\(posted.text)")
        #expect(posted.json?["resumed"]?.arrayValue?.compactMap(\.stringValue) == [id])
        try await AgentTests.waitUntil {
            try await client.request(.GET, "/v1/communities/\(id)").json?["history"]?["messageCount"]?.intValue == Int64(summary.validMessages)
        }
        let done = try await client.request(.GET, "/v1/communities/\(id)")
        #expect(done.json?["history"]?["waitingForKeys"]?.arrayValue?.isEmpty == true)
        #expect(done.json?["history"]?["archivesImported"]?.intValue == Int64(summary.archiveKeys.count))
        // No key's bytes in what the API answered or what the events said.
        let keyHex = keyLines.compactMap { line -> String? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["key"] as? String
        }
        #expect(keyHex.count == 3)
        let everything = posted.text + done.text + lines.objects.map { "\($0)" }.joined()
        #expect(keyHex.allSatisfy { !everything.contains($0) && !everything.contains(String($0.dropFirst(2))) })
        #expect(lines.names.contains("keys.imported"))
        try await running.stop()
        await codexNode.stop()
        await wakuNode.stop()
    }

    @Test func sighupAppliesTheEditedConfigurationFile() async throws {
        let setup = try await AgentTests.setUp()
        let first = setup.first.community.communityID.string, second = setup.second.community.communityID.string
        let file = setup.scratch.appendingPathComponent("agent.json")
        func write(_ communities: [String], extra: String = "") throws {
            let list = communities.map { #"{"id":"\#($0)","settleSeconds":0.3}"# }.joined(separator: ",")
            try Data(#"{"codexURL":"\#(setup.codexNode.baseURL.absoluteString)","wakuURL":"\#(setup.wakuNode.baseURL.absoluteString)","database":"history.sqlite","relayPollSeconds":0.1,\#(extra)"communities":[\#(list)]}"#.utf8).write(to: file)
        }
        try write([first])
        let configuration = try AgentConfiguration.load(path: file.path)
        let lines = EventLines()
        let events = EventLog(writer: { lines.append($0) })
        // SIGHUP is trapped before anything is started, as the command does.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let agent = try await HistoryAgent(configuration: configuration, events: events)
        let server = LocalAPIServer(api: AgentAPI(agent: agent), socketPath: configuration.apiSocketPath, port: nil, cookiePath: configuration.cookiePath)
        let reloader = ConfigurationReloader(path: file.path, agent: agent, events: events, signals: hangups)
        let group = ServiceGroup(services: [server, reloader, agent], gracefulShutdownSignals: [], logger: Logger(label: "test"))
        let task = Task { try await group.run() }
        await server.waitUntilListening()
        let client = APIClient(http: HTTPClient.shared, socketPath: configuration.apiSocketPath!, contract: try OpenAPIContract())

        try write([second], extra: #""wakuURL2":1,"#)
        kill(getpid(), SIGHUP)
        try await AgentTests.waitUntil(timeout: .seconds(30)) { lines.names.contains("configuration.reload-failed") }
        #expect(try await client.request(.GET, "/v1/communities").json?["communities"]?.arrayValue?.count == 1, "a file that does not validate changes nothing")

        try write([second], extra: #""metricsPort":0,"#)
        kill(getpid(), SIGHUP)
        try await AgentTests.waitUntil(timeout: .seconds(30)) { lines.names.contains("configuration.reloaded") }
        let reloaded = try #require(lines.objects.last { $0["event"] as? String == "configuration.reloaded" })
        #expect(reloaded["started"] as? [String] == [second] && reloaded["stopped"] as? [String] == [first])
        #expect(reloaded["needRestart"] as? [String] == ["metricsPort"])
        // The new community runs (its sync reached a state of its own), and the old one is gone.
        try await AgentTests.waitUntil(timeout: .seconds(30)) {
            let list = try await client.request(.GET, "/v1/communities").json?["communities"]?.arrayValue ?? []
            return list.count == 1 && list[0]["communityID"]?.stringValue == second && list[0]["state"]?.stringValue != "restarting"
        }
        await group.triggerGracefulShutdown()
        try await task.value
        await setup.stop()
    }
}

/// Event lines written by an `EventLog`, for a test to read.
final class EventLines: Sendable {
    private let lines = Mutex<[Data]>([])
    func append(_ line: Data) { lines.withLock { $0.append(line) } }
    var objects: [[String: Any]] {
        lines.withLock { $0 }.compactMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
    var names: [String] { objects.compactMap { $0["event"] as? String } }
}
