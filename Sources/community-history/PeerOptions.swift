import ArgumentParser
import CodexClient
import Foundation
import WakuClient

extension StorageAPIPrefix: ExpressibleByArgument {}

/// The two nodes and the Waku routing a command talks to (`sync`, `doctor`), checked once.
struct PeerOptions: ParsableArguments {
    @Option(name: [.customLong("storage-url"), .customLong("codex-url")],
            help: ArgumentHelp("The storage node (Logos Storage, formerly Codex): its address, or its REST API in full (…/api/storage/v1 or …/api/codex/v1, which pins the API) (default: $COMMUNITY_HISTORY_STORAGE_URL, else $COMMUNITY_HISTORY_CODEX_URL, else http://127.0.0.1:8080). --codex-url is its old name.",
                               valueName: "url"))
    var codexURL: String = DefaultPaths.storageURL

    @Option(help: ArgumentHelp("Pin the storage node's REST API prefix: /api/storage/v1 (Logos Storage) or /api/codex/v1 (Codex, 2025); default: probe /debug/info under each.",
                               valueName: "prefix"))
    var storageAPI: StorageAPIPrefix?

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
        guard URL(string: codexURL)?.host != nil else { throw ValidationError("--storage-url \(codexURL) is not a URL") }
        if let storageAPI, let written = StorageAPIPrefix.split(codex).prefix, written != storageAPI {
            throw ValidationError("--storage-api \(storageAPI) disagrees with the API path in --storage-url \(codexURL); keep one")
        }
        guard URL(string: wakuURL)?.host != nil else { throw ValidationError("--waku-url \(wakuURL) is not a URL") }
        guard PubsubTopic.isStaticShard(pubsubTopic) else {
            throw ValidationError("--pubsub-topic \(pubsubTopic) is not a static shard like /waku/2/rs/16/32")
        }
        if let storePeer, !storePeer.hasPrefix("/") {
            throw ValidationError("--store-peer \(storePeer) is not a multiaddr (like /dns4/host/tcp/30303/p2p/16Uiu2…)")
        }
    }
}
