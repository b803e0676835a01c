import AgentAPI
import AgentService
import AsyncHTTPClient
import DemoNetwork
import Foundation
import HistoryStore
import Logging
import ServiceLifecycle
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 27: one request killed the agent for good. `POST /v1/communities` with
/// `"settleSeconds": 1e19` trapped (a Double that fits no Duration), after the join was
/// persisted, so the agent died again at every start. Every number is range-checked where it
/// enters, nothing is persisted before it is valid, and a stored row the agent cannot apply is
/// reported and skipped.
@Suite(.serialized, .timeLimit(.minutes(5))) struct HostileInputTests {
    static let communityID = "0x03a66ba3747abe18d182838b1eaf9f0ee989fb57084bc7269a53ca588cca667ca0"

    /// Demo nodes and an agent configuration for them, following nothing yet, in a scratch directory.
    func nodes(_ label: String) async throws -> (configuration: AgentConfiguration, waku: DemoWakuNode, storage: DemoCodexNode) {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let waku = try await DemoWakuNode.start()
        let storage = try await DemoCodexNode.start(directory: scratch.appendingPathComponent("storage"))
        let configuration = AgentConfiguration(
            storageURL: storage.baseURL.absoluteString, wakuURL: waku.baseURL.absoluteString,
            database: scratch.appendingPathComponent("history.sqlite").path, relayPollSeconds: 0.1,
            storeCatchUpSeconds: 2, diskMarginBytes: 0, communities: [])
        return (configuration, waku, storage)
    }

    @Test func outOfRangeNumbersAreRefusedAndNeverPersisted() async throws {
        let (configuration, waku, storage) = try await nodes("hostile")
        let running = try await AgentAPITests.start(configuration)
        let client = APIClient(http: HTTPClient.shared, socketPath: configuration.apiSocketPath!, contract: try OpenAPIContract())
        for body in [#""settleSeconds":1e19"#, #""settleSeconds":1e308"#, #""settleSeconds":-1"#, #""concurrency":1000000"#] {
            let join = try await client.request(.POST, "/v1/communities", json: #"{"id":"\#(Self.communityID)",\#(body)}"#)
            #expect(join.status == 400, "\(body): \(join.text)")
            #expect(join.json?["error"]?["code"]?.stringValue == "invalid-settings")
            let message = join.json?["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains(body.contains("settle") ? "settleSeconds must be between 0 and 86400" : "concurrency must be between 1 and 64"),
                    "\(message)")
        }
        #expect(try await running.agent.history.followedCommunities().isEmpty, "nothing persisted")
        try await running.stop()

        // A row an older release stored with a value now out of range: reported and skipped at
        // start; the agent runs and answers.
        let history = try HistoryDatabase(path: configuration.databasePath)
        try await history.follow(FollowedCommunity(communityID: Self.communityID,
                                                   settings: Data(#"{"id":"\#(Self.communityID)","settleSeconds":1e19}"#.utf8),
                                                   joinedAt: 1))
        let lines = EventLines()
        let again = try await AgentAPITests.start(configuration, events: EventLog(writer: { lines.append($0) }))
        let listed = try await client.request(.GET, "/v1/communities")
        #expect(listed.status == 200 && listed.json?["communities"] == .array([]), "\(listed.text)")
        let skipped = lines.objects.first { $0["event"] as? String == "community.skipped" }
        #expect(skipped?["community"] as? String == Self.communityID)
        #expect((skipped?["error"] as? String)?.contains("settleSeconds") == true)
        try await again.stop()
        await waku.stop()
        await storage.stop()
    }

    /// The same numbers in a configuration file: a configuration error naming the key and its range.
    @Test(arguments: [
        ("relayPollSeconds", "1e19", "relayPollSeconds must be between 0.05 and 3600"),
        ("storeCatchUpSeconds", "1e308", "storeCatchUpSeconds must be between 1 and 604800"),
        ("databaseBusyTimeoutSeconds", "1e19", "databaseBusyTimeoutSeconds must be between 0 and 3600"),
        ("catchUpHours", "1e19", "catchUpHours must be between"),
        // 2 x minimum x downloads overflowed Int64 and trapped the check itself.
        ("minDownloadBytesPerSecond", "9000000000000000000", "minDownloadBytesPerSecond must be between 0 and 1099511627776"),
        ("maxDownloadBytesPerSecond", "0", "maxDownloadBytesPerSecond must be between 1 and 1099511627776"),
        ("diskMarginBytes", "-1", "diskMarginBytes must be between 0 and"),
    ])
    func outOfRangeNumbersInTheFileAreConfigurationErrors(_ key: String, _ value: String, _ message: String) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString).json")
        try Data(#"{"\#(key)": \#(value), "communities": [{"id": "\#(Self.communityID)", "settleSeconds": 2}]}"#.utf8).write(to: file)
        #expect {
            _ = try AgentConfiguration.load(path: file.path)
        } throws: { error in
            "\(error)".contains(message)
        }
        try Data(#"{"communities": [{"id": "\#(Self.communityID)", "settleSeconds": 1e19}]}"#.utf8).write(to: file)
        #expect(throws: AgentConfigurationError.self) { _ = try AgentConfiguration.load(path: file.path) }
    }

    /// Issue 27: with a umask of 022 the events file was 0644; it names what a member follows.
    @Test func theEventsFileIsReadableByItsOwnerOnly() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("events-\(UUID().uuidString).jsonl").path
        _ = try EventLog(path: path)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
    }

    /// A TCP connection to 127.0.0.1:`port` that sends nothing (no token is needed to open one).
    static func idleConnection(port: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        return descriptor
    }

    /// Issue 27: about 1,100 idle TCP connections to the API port exhausted an agent with a
    /// desktop's 1,024 open files; the socket stopped answering too. Each listener caps its
    /// connections and closes idle ones; a TCP flood leaves the socket served.
    @Test func idleConnectionsAreCappedAndClosedAndTheSocketStaysServed() async throws {
        let (base, waku, storage) = try await nodes("flood")
        var configuration = base
        configuration.apiPort = 0
        let agent = try await HistoryAgent(configuration: configuration)
        let server = LocalAPIServer(api: AgentAPI(agent: agent), socketPath: configuration.apiSocketPath, port: 0,
                                    cookiePath: configuration.cookiePath,
                                    limits: .init(idleTimeout: .milliseconds(300), maxConnections: 4))
        let group = ServiceGroup(services: [server, agent], gracefulShutdownSignals: [], logger: Logger(label: "test"))
        let task = Task { try await group.run() }
        await server.waitUntilListening()
        let port = try #require(server.listeningPort.withLock { $0 })

        // Twice the cap of TCP connections that never send a request.
        let flood = try (0..<8).map { _ in try Self.idleConnection(port: port) }
        defer { flood.forEach { close($0) } }
        // The socket still answers while TCP is full.
        let client = APIClient(http: HTTPClient.shared, socketPath: configuration.apiSocketPath!, contract: try OpenAPIContract())
        #expect(try await client.request(.GET, "/v1/communities").status == 200)
        // The server closes idle connections: each read ends (0 bytes) instead of blocking for ever.
        for descriptor in flood.prefix(4) {
            var byte: UInt8 = 0
            #expect(recv(descriptor, &byte, 1, 0) == 0, "an idle connection is closed by the server")
        }
        // With the idle ones gone, TCP answers again (401: it asks for the token, it does not hang).
        let tcp = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/communities"), timeout: .seconds(60))
        #expect(tcp.status.code == 401)

        await group.triggerGracefulShutdown()
        try await task.value
        await waku.stop()
        await storage.stop()
    }
}
