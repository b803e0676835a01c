import ArgumentParser
import CodexClient
import Foundation
import SyncEngine
import WakuClient

/// `doctor`: checks the nwaku node, the Codex node and the database the way sync and the agent
/// use them, and prints the exact fix for each check that fails.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the nwaku node, the Codex node and the database; print the fix for each failing check.",
        discussion: """
            Checks: nwaku REST reachable and READY; relay subscribed to the pubsub topic (doctor \
            subscribes the node to it, as the agent does; nothing is read from the relay); a store \
            query answers (a store peer is configured and reachable); Codex REST reachable; the \
            Codex node has DHT peers and announce addresses; its storage quota has room; the \
            database is writable, its schema version, and free disk. Exit 0 only when all pass, \
            6 when one fails.
            """
    )

    @Option(help: "Codex node REST API base URL.")
    var codexURL: String = "http://127.0.0.1:8080"

    @Option(help: "nwaku REST API base URL.")
    var wakuURL: String = "http://127.0.0.1:8645"

    @Option(help: ArgumentHelp("Store node to query (libp2p multiaddr), sent as peerAddr.", valueName: "multiaddr"))
    var storePeer: String?

    @Option(help: "The community's pubsub topic (static shard).")
    var pubsubTopic: String = WakuClient.defaultPubsubTopic

    @Option(help: "SQLite database to check.")
    var db: String = "history.sqlite"

    @Flag(help: "Print the checks as JSON.")
    var json = false

    func validate() throws {
        guard URL(string: codexURL)?.host != nil else { throw ValidationError("--codex-url \(codexURL) is not a URL") }
        guard URL(string: wakuURL)?.host != nil else { throw ValidationError("--waku-url \(wakuURL) is not a URL") }
        guard PubsubTopic.isStaticShard(pubsubTopic) else {
            throw ValidationError("--pubsub-topic \(pubsubTopic) is not a static shard like /waku/2/rs/16/32")
        }
    }

    func run() async throws {
        let checks = PeerCheck(waku: WakuClient(baseURL: URL(string: wakuURL)!, requestTimeout: .seconds(10)),
                               codex: CodexClient(baseURL: URL(string: codexURL)!, requestTimeout: .seconds(10)),
                               storePeer: storePeer)
        var results = await checks.network(pubsubTopic: pubsubTopic)
        results += PeerCheck.database(path: db)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            for result in results {
                print("\(result.passed ? "pass" : "FAIL")  \(result.name): \(result.detail)")
                if let fix = result.fix { print("      fix: \(fix)") }
            }
        }
        if !results.allSatisfy(\.passed) { throw Exit.checkFailed }
    }
}
