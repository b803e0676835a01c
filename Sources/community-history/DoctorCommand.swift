import ArgumentParser
import CodexClient
import Foundation
import PeerDoctor
import SyncEngine
import WakuClient

/// `doctor`: checks the nwaku node, the storage node (Logos Storage, formerly Codex) and the
/// database the way sync and the agent use them, and prints the exact fix for each check that fails.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the nwaku node, the storage node (Logos Storage, formerly Codex) and the database; print the fix for each failing check.",
        discussion: """
            Checks: nwaku REST reachable and READY; relay subscribed to the pubsub topic (doctor \
            subscribes the node to it, as the agent does; nothing is read from the relay); a store \
            query answers (a store peer is configured and reachable); the storage node's REST API \
            found (/api/storage/v1 on Logos Storage, /api/codex/v1 on the 2025 Codex node) with its \
            version and generation; the node has peers (and, on a 2025 node, announce addresses); \
            its storage quota has room; the database is writable (or, in the default data directory, will be created), its schema \
            version, and free disk. Exit 0 only when all pass, 6 when one fails.
            """
    )

    @OptionGroup var peers: PeerOptions

    @OptionGroup var database: DatabaseOption
    var db: String { database.path }

    @Flag(help: "Print the checks as JSON.")
    var json = false

    func run() async throws {
        let checks = PeerCheck(waku: WakuClient(baseURL: peers.waku, requestTimeout: .seconds(10)),
                               codex: CodexClient(baseURL: peers.codex, apiPrefix: peers.storageAPI, requestTimeout: .seconds(10)),
                               storePeer: peers.storePeer)
        var results = await checks.network(pubsubTopic: peers.pubsubTopic)
        results += PeerCheck.database(path: db, createdDirectory: DefaultPaths.dataDirectory)
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
