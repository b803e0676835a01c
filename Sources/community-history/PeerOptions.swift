import ArgumentParser
import Foundation
import WakuClient

/// The two nodes and the Waku routing a command talks to (`sync`, `doctor`), checked once.
struct PeerOptions: ParsableArguments {
    @Option(help: "Codex node REST API base URL (default: $COMMUNITY_HISTORY_CODEX_URL, else http://127.0.0.1:8080).")
    var codexURL: String = DefaultPaths.codexURL

    @Option(help: "nwaku REST API base URL (default: $COMMUNITY_HISTORY_WAKU_URL, else http://127.0.0.1:8645).")
    var wakuURL: String = DefaultPaths.wakuURL

    @Option(help: "The community's pubsub topic (static shard) for store queries and the relay.")
    var pubsubTopic: String = WakuClient.defaultPubsubTopic

    @Option(help: ArgumentHelp("Store node to query (libp2p multiaddr), sent as peerAddr; default: the nwaku node's --storenode.",
                               valueName: "multiaddr"))
    var storePeer: String?

    var codex: URL { URL(string: codexURL)! }
    var waku: URL { URL(string: wakuURL)! }

    func validate() throws {
        guard URL(string: codexURL)?.host != nil else { throw ValidationError("--codex-url \(codexURL) is not a URL") }
        guard URL(string: wakuURL)?.host != nil else { throw ValidationError("--waku-url \(wakuURL) is not a URL") }
        guard PubsubTopic.isStaticShard(pubsubTopic) else {
            throw ValidationError("--pubsub-topic \(pubsubTopic) is not a static shard like /waku/2/rs/16/32")
        }
        if let storePeer, !storePeer.hasPrefix("/") {
            throw ValidationError("--store-peer \(storePeer) is not a multiaddr (like /dns4/host/tcp/30303/p2p/16Uiu2…)")
        }
    }
}
