import CodexClient
import DemoNetwork
import Foundation
import GRDB
import HistoryStore
import LocalHTTPServer
import PeerDoctor
import SyncEngine
import Testing
import WakuClient

/// `doctor`'s checks against the demo nodes: each misconfiguration fails its check with a fix;
/// the demo network passes.
@Suite(.timeLimit(.minutes(5))) struct DoctorTests {
    static let shard = "/waku/2/rs/16/32"

    func nodes(storeNode: String? = DemoWakuNode.demoStoreNode, generation: DemoStorageGeneration = .current) async throws -> (DemoWakuNode, DemoCodexNode) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("doctor-\(UUID().uuidString)")
        return (try await DemoWakuNode.start(storeNode: storeNode),
                try await DemoCodexNode.start(directory: directory, missingLookup: .milliseconds(100), generation: generation))
    }

    func checks(_ waku: DemoWakuNode, _ codex: DemoCodexNode, storePeer: String? = nil) -> PeerCheck {
        PeerCheck(waku: WakuClient(baseURL: waku.baseURL), codex: CodexClient(baseURL: codex.baseURL), storePeer: storePeer)
    }

    func failed(_ results: [CheckResult]) -> [String] { results.filter { !$0.passed }.map(\.name) }

    /// Either storage node generation passes, and the check names it: Logos Storage's
    /// `/debug/info` has no `announceAddresses` and its version under `storage`.
    @Test(arguments: DemoStorageGeneration.allCases)
    func theDemoNetworkPasses(_ generation: DemoStorageGeneration) async throws {
        let (waku, codex) = try await nodes(generation: generation)
        let results = await checks(waku, codex).network(pubsubTopic: Self.shard)
        await waku.stop(); await codex.stop()
        #expect(results.count == 6)
        #expect(failed(results).isEmpty, "\(results)")
        #expect(results.allSatisfy { $0.fix == nil })
        let reachable = try #require(results.first { $0.name == "storage node REST API reachable" })
        #expect(reachable.detail.contains(generation.apiPrefix.nodeName) && reachable.detail.contains(generation.apiPrefix.rawValue))
        #expect(reachable.detail.contains(generation == .storage2026 ? "v0.3.2-demo" : "v0.2.5-demo"))
        #expect(reachable.detail.contains("same generation as the community's control node"))
    }

    @Test func aNodeWithoutAStorePeerFailsUntilOneIsGiven() async throws {
        let (waku, codex) = try await nodes(storeNode: nil)
        let without = await checks(waku, codex).network(pubsubTopic: Self.shard)
        let with = await checks(waku, codex, storePeer: "/dns4/store.example/tcp/30303/p2p/16Uiu2HAmStore").network(pubsubTopic: Self.shard)
        await waku.stop(); await codex.stop()
        #expect(failed(without) == ["store query answers"])
        #expect(without.first { !$0.passed }?.fix?.contains("--store-peer") == true)
        #expect(failed(with).isEmpty)
    }

    @Test func anNwakuNodeThatIsNotReadyOrNotThereFailsFirst() async throws {
        let (waku, codex) = try await nodes()
        await waku.setHealth("INITIALIZING")
        let starting = await checks(waku, codex).network(pubsubTopic: Self.shard)
        #expect(failed(starting) == ["nwaku REST API reachable and READY"])
        #expect(starting[0].detail.contains("INITIALIZING"))
        await waku.stop()
        let gone = await checks(waku, codex).network(pubsubTopic: Self.shard)
        await codex.stop()
        #expect(failed(gone) == ["nwaku REST API reachable and READY"])
        #expect(gone[0].fix?.contains("--rest") == true)
    }

    @Test func aPubsubTopicTheRelayRefusesFails() async throws {
        let (waku, codex) = try await nodes()
        let results = await checks(waku, codex).network(pubsubTopic: "/waku/2/default-waku/proto")
        await waku.stop(); await codex.stop()
        #expect(failed(results).contains("relay subscribed to /waku/2/default-waku/proto"))
        #expect(results.first { !$0.passed }?.fix?.contains("--cluster-id=16") == true)
    }

    @Test func aCodexNodeOffTheNetworkOrDownFails() async throws {
        let (waku, codex) = try await nodes()
        await codex.isolateFromNetwork()
        let isolated = await checks(waku, codex).network(pubsubTopic: Self.shard)
        #expect(failed(isolated) == ["storage node joined the network"])
        #expect(isolated.first { !$0.passed }?.fix?.contains("--network") == true)
        var full = checks(waku, codex)
        full.minimumFreeBytes = 1 << 50
        #expect(failed(await full.network(pubsubTopic: Self.shard)).contains("storage node quota has room"))
        await codex.stop()
        let down = await checks(waku, codex).network(pubsubTopic: Self.shard)
        #expect(failed(down) == ["storage node REST API reachable"])
        // Its REST API is off by default since 2026: the fix says how to turn it on.
        #expect(down.first { !$0.passed }?.fix?.contains("--api-bindaddr=127.0.0.1 --api-port=8080") == true)
        // An address that answers, but is no storage node's API (the nwaku node's, say).
        let wrong = PeerCheck(waku: WakuClient(baseURL: waku.baseURL), codex: CodexClient(baseURL: waku.baseURL), storePeer: nil)
        let notStorage = await wrong.codexChecks()
        await waku.stop()
        #expect(failed(notStorage) == ["storage node REST API reachable"])
        #expect(notStorage[0].detail.contains("is not a storage node's REST API"))
    }

    @Test func a2025NodeOffTheNetworkFailsOnItsAnnounceAddresses() async throws {
        let (waku, codex) = try await nodes(generation: .codex2025)
        await codex.isolateFromNetwork()
        let isolated = await checks(waku, codex).network(pubsubTopic: Self.shard)
        await waku.stop(); await codex.stop()
        #expect(failed(isolated) == ["storage node joined the network"])
        #expect(isolated.first { !$0.passed }?.detail.contains("announce addresses") == true)
    }

    /// Issue 27: a store page that is not JSON read as "no store peer" with a hint to configure
    /// one, though the node had answered. The check says what it answered and what to fix.
    @Test func aStoreAnswerThatIsNotJSONIsNotBlamedOnTheStorePeer() async throws {
        let server = try await LoopbackHTTPServer.start { request in
            switch request.pathSegments.first {
            case "health": return .json(["nodeHealth": "READY"])
            case "store": return LoopbackResponse(status: 200, contentType: "text/html", body: .data(Data("<html>a proxy's page</html>".utf8)))
            default: return LoopbackResponse(status: 200)
            }
        }
        defer { Task { await server.stop() } }
        let results = await PeerCheck(waku: WakuClient(baseURL: server.baseURL), codex: CodexClient(baseURL: server.baseURL), storePeer: nil)
            .waku(pubsubTopic: Self.shard, includeRelay: false)
        let store = try #require(results.first { $0.name == "store query answers" })
        #expect(!store.passed)
        #expect(store.detail.contains("a proxy's page"), "\(store.detail)")
        #expect(store.fix?.contains("--store-peer") == false && store.fix?.contains("not nwaku's store API") == true, "\(store.fix ?? "")")
    }

    @Test func theDatabaseIsCheckedForWritesSchemaAndSpace() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("doctor-db-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("history.sqlite").path
        // Not there yet: the directory is checked, nothing is created.
        #expect(failed(PeerCheck.database(path: path, minimumFreeBytes: 0)).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: path))

        _ = try HistoryDatabase(path: path)
        let good = PeerCheck.database(path: path, minimumFreeBytes: 0)
        #expect(failed(good).isEmpty)
        #expect(good.first { $0.name == "database schema" }?.detail.contains("v16-store-catch-up") == true)

        // Regression: a fresh machine's default data directory does not exist yet; sync and the
        // agent create it, so doctor says it will be created (it failed "database writable").
        let dataDirectory = directory.appendingPathComponent("no/such/dir").path
        let fresh = PeerCheck.database(path: dataDirectory + "/history.sqlite", minimumFreeBytes: 0, createdDirectory: dataDirectory)
        #expect(failed(fresh).isEmpty)
        #expect(fresh.first { $0.name == "database writable" }?.detail.contains("will create them") == true)
        #expect(fresh.first { $0.name == "free disk space" }?.detail.contains("MiB free at \(directory.path)") == true)
        // Any other missing directory is not created by sync: a failure, as it is for sync.
        #expect(failed(PeerCheck.database(path: dataDirectory + "/history.sqlite", minimumFreeBytes: 0)).contains("database writable"))
        // A file where a directory must be: nothing can be created under it.
        let file = directory.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        let blocked = PeerCheck.database(path: file.appendingPathComponent("sub/history.sqlite").path, minimumFreeBytes: 0,
                                         createdDirectory: file.appendingPathComponent("sub").path)
        #expect(failed(blocked).contains("database writable"))
        #expect(failed(PeerCheck.database(path: path, minimumFreeBytes: 1 << 60)) == ["free disk space"])

        // A database from a newer release, and a file that is no database.
        let newer = directory.appendingPathComponent("newer.sqlite").path
        _ = try HistoryDatabase(path: newer)
        try DatabaseQueue(path: newer).write { try $0.execute(sql: "INSERT INTO grdb_migrations VALUES ('v99-future')") }
        #expect(failed(PeerCheck.database(path: newer, minimumFreeBytes: 0)) == ["database schema"])
        let junk = directory.appendingPathComponent("junk.sqlite")
        try Data(repeating: 7, count: 4096).write(to: junk)
        #expect(failed(PeerCheck.database(path: junk.path, minimumFreeBytes: 0)) == ["database readable"])
    }
}
