import ArchiveImport
import ArgumentParser
import CodexClient
import DemoNetwork
import Fixtures
import Foundation
import LocalHTTPServer
import Logging
import ServiceLifecycle
import AgentService
import SyncEngine
import WakuClient

/// `demo-network`: the demo's loopback nodes, kept up so that `agent` and `sync` can be tried
/// against them from another terminal (or a script), as against real nodes.
struct DemoNetworkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-network",
        abstract: "Serve a loopback storage node (Logos Storage, formerly Codex) and nwaku node with fixture communities published on them, until Ctrl-C.",
        discussion: """
            The storage node is the one a member runs today (Logos Storage: REST under \
            /api/storage/v1, the 2026-01 manifest layout) or, with --storage-generation 2025, the \
            Codex node of 2025 (/api/codex/v1, the 2025 layout). \
            Uploads each fixture's index and archives to the storage node, announces each index on the \
            nwaku node's archive channel (signed with the fixture's community key), writes an agent \
            configuration for these nodes, and serves until SIGINT or SIGTERM. In another terminal, \
            run `community-history agent --config <that file>`, or `sync` with the printed URLs.
            """
    )

    @Option(help: "Fixture directory to publish (repeat for several communities; default: the bundled community, found from any directory).")
    var fixture: [String] = []

    @Option(name: [.customLong("storage-port"), .customLong("codex-port")], help: "Port of the storage node (0 picks a free one).")
    var codexPort: Int = 0

    @Option(help: "The storage node's generation: 2026 (Logos Storage, what a member runs today) or 2025 (Codex).")
    var storageGeneration: DemoStorageGeneration = .current

    @Option(help: "Port of the nwaku node (0 picks a free one).")
    var wakuPort: Int = 0

    @Option(help: "Where to write an agent configuration for these nodes.")
    var agentConfig: String = "demo-agent.json"

    @Option(help: "The database the written agent configuration names.")
    var agentDb: String = "demo-agent-history.sqlite"

    @Option(help: "The port the written agent configuration serves its API and status page on (127.0.0.1).")
    var statusPort: Int = 8790

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (0...65_535).contains(codexPort), (0...65_535).contains(wakuPort) else {
            throw ValidationError("ports must be between 0 and 65535")
        }
        guard (1...65_535).contains(statusPort) else { throw ValidationError("--status-port must be between 1 and 65535") }
    }

    func run() async throws {
        logging.bootstrap()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("community-history-demo-network-\(UUID().uuidString)")
        let publishers: [CommunityPublisher]
        do {
            let directories = fixture.isEmpty ? [try BundledFixture.locate(scratch: scratch, layout: storageGeneration.layout)] : fixture.map { URL(fileURLWithPath: $0) }
            publishers = try directories.map { try CommunityPublisher(fixture: try FixtureDirectory(url: $0)) }
        } catch {
            removeScratch(scratch)
            printError("\(error)")
            throw Exit.badInput
        }
        let codexNode: DemoCodexNode, wakuNode: DemoWakuNode
        do {
            codexNode = try await DemoCodexNode.start(directory: scratch.appendingPathComponent("codex"), port: codexPort,
                                                      generation: storageGeneration)
        } catch let error as LoopbackServerError {
            removeScratch(scratch)
            printError("--storage-port: \(error)")
            throw Exit.badInput
        }
        do { wakuNode = try await DemoWakuNode.start(port: wakuPort, maxPageSize: 20) } catch let error as LoopbackServerError {
            await codexNode.stop()
            removeScratch(scratch)
            printError("--waku-port: \(error)")
            throw Exit.badInput
        }
        let stopNodes: @Sendable () async -> Void = {
            await codexNode.stop()
            await wakuNode.stop()
            removeScratch(scratch)
        }
        do {
            try await publish(publishers, codex: CodexClient(baseURL: codexNode.baseURL), waku: WakuClient(baseURL: wakuNode.baseURL))
            try writeAgentConfiguration(communities: publishers.map(\.community.communityID.string), codex: codexNode.baseURL, waku: wakuNode.baseURL)
        } catch {
            await stopNodes()
            printError("\(error)")
            throw Exit.badInput
        }
        print("""
            storage node  \(codexNode.baseURL)   (--storage-url; \(codexNode.generation.apiPrefix.nodeName), REST API under \(codexNode.generation.apiPrefix), \(codexNode.generation.layout) manifest layout)
            nwaku node    \(wakuNode.baseURL)   (--waku-url)
            wrote \(agentConfig); in another terminal:
              community-history agent --config \(agentConfig)
              community-history sync --community \(publishers[0].community.communityID) --storage-url \(codexNode.baseURL) --waku-url \(wakuNode.baseURL) --settle 3
              community-history doctor --storage-url \(codexNode.baseURL) --waku-url \(wakuNode.baseURL)
            status page   http://127.0.0.1:\(statusPort)/ once the agent runs (sign in with the token in \(agentDb).cookie)
            serving until Ctrl-C
            """)
        // Now, even into a pipe or a file (block-buffered there): a script waits for these lines.
        fflush(nil)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: UntilShutdown(then: stopNodes))], gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "community-history.demo-network")))
        try await group.run()
    }

    private func publish(_ publishers: [CommunityPublisher], codex: CodexClient, waku: WakuClient) async throws {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        for publisher in publishers {
            let blobs = try await publisher.uploadBlobs(to: codex)
            try await publisher.announce(on: waku, clock: now)
            try await publisher.describe(on: waku, clock: now)
            print("community \(publisher.community.communityID): \(blobs) blobs uploaded, index \(publisher.indexCID) announced")
            fflush(nil)
        }
    }

    private func writeAgentConfiguration(communities: [String], codex: URL, waku: URL) throws {
        let configuration = AgentConfiguration(
            storageURL: codex.absoluteString, wakuURL: waku.absoluteString, database: agentDb, relayPollSeconds: 1,
            metricsPort: 0, apiPort: statusPort, communities: communities.map { .init(id: $0, settleSeconds: 3) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(configuration).write(to: URL(fileURLWithPath: agentConfig))
    }
}

extension DemoStorageGeneration: ExpressibleByArgument {}

/// Waits for the service group's graceful shutdown (SIGINT, SIGTERM), then runs `then`.
private struct UntilShutdown: Service {
    let then: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await then()
    }
}
