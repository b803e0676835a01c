import Foundation
import LocalHTTPServer
import WakuClient

/// A loopback nwaku node configured as Status runs one (static sharding, cluster 16), with
/// the REST API's store v3, relay and health backed by an in-memory message list. Where a
/// client can tell, it behaves as nwaku `7d1c6aba` does (waku-org/nwaku; file and line in
/// each comment):
///
/// - relay works by pubsub topic only; the autosharding API answers 500 / 400;
/// - one relay cache for the whole node, 50 messages by default, oldest dropped first, drained
///   by whoever reads a topic;
/// - store pages are at most `maxPageSize`; a page after the first with more than 10 content
///   topics is refused (statusCode 300); without a store peer (`--storenode` or `peerAddr`) a
///   query answers 412;
/// - `/health` says `READY`; an unknown path answers 400.
///
/// ```swift
/// let waku = try await DemoWakuNode.start(maxPageSize: 20)
/// let client = WakuClient(baseURL: waku.baseURL)
/// ```
public final class DemoWakuNode: Sendable {
    public static let defaultPubsubTopic = WakuClient.defaultPubsubTopic
    /// The store node the demo node is "started with" (`--storenode`) unless told otherwise.
    public static let demoStoreNode = "/ip4/127.0.0.1/tcp/60000/p2p/16Uiu2HAmDemoStoreNode"

    public let server: LoopbackHTTPServer
    let state: State

    public var baseURL: URL { server.baseURL }

    actor State {
        struct Entry {
            var hash: String
            var pubsubTopic: String
            var message: WakuMessage
        }

        var entries: [Entry] = []
        /// Pubsub topics relayed into the REST cache (`--shard` at start, or `POST /relay/v1/subscriptions`).
        var subscriptions: Set<String> = []
        /// The node-wide REST relay cache (`message_cache.nim`).
        var relayCache: [Entry] = []
        let relayCacheCapacity: Int
        var storeQueries = 0
        /// `GET /relay/v1/messages/{topic}` requests (a count for benchmarks; it changes no answer).
        var relayReads = 0
        var subscribeCalls = 0
        let maxPageSize: Int
        var storeNode: String?
        var health = "READY"
        /// How long the remote store peer takes to answer (`delayStoreQueries`).
        var storeDelay: Duration = .zero

        init(maxPageSize: Int, relayCacheCapacity: Int, storeNode: String?) {
            self.maxPageSize = maxPageSize
            self.relayCacheCapacity = relayCacheCapacity
            self.storeNode = storeNode
        }

        func publish(_ message: WakuMessage, pubsubTopic: String) {
            let hash = message.hash(pubsubTopic: pubsubTopic)
            guard !entries.contains(where: { $0.hash == hash }) else { return }
            let entry = Entry(hash: hash, pubsubTopic: pubsubTopic, message: message)
            entries.append(entry)
            guard subscriptions.contains(pubsubTopic) else { return }
            // When full, the oldest by timestamp goes (message_cache.nim:181-192, 215-216).
            relayCache.append(entry)
            while relayCache.count > relayCacheCapacity {
                let oldest = relayCache.indices.min { (relayCache[$0].message.timestamp ?? 0) < (relayCache[$1].message.timestamp ?? 0) }!
                relayCache.remove(at: oldest)
            }
        }

        func store(_ query: [String: String]) -> (status: Int, page: StorePage?, text: String) {
            storeQueries += 1
            // No peerAddr and no --storenode: 412 (store/handlers.nim:24-25, 232-243).
            let peer = query["peerAddr"].flatMap { $0.isEmpty ? nil : $0 } ?? storeNode
            guard let peer else {
                return (412, nil, "No suitable service peer & no discovery method")
            }
            guard peer.hasPrefix("/") else { return (400, nil, "Invalid peer address: \(peer)") }
            let topics = (query["contentTopics"] ?? "").split(separator: ",").map(String.init)
            // MaxContentTopicsPerQuery, checked only once there is a cursor (archive.nim:25, 179-190);
            // the REST node relays the store's status in the body (kernel_api/store.nim:278-293).
            if query["cursor"] != nil, topics.count > 10 {
                return (200, StorePage(requestId: "demo-\(storeQueries)", statusCode: 300,
                                       statusDesc: "BAD_RESPONSE: archive error: too many content topics",
                                       messages: [], paginationCursor: nil), "")
            }
            let topicSet = Set(topics)
            let pubsub = query["pubsubTopic"]
            let start = query["startTime"].flatMap { Int64($0) }
            let end = query["endTime"].flatMap { Int64($0) }
            let ascending = query["ascending"] != "false"
            let pageSize = min(max(1, Int(query["pageSize"] ?? "") ?? 20), maxPageSize)
            var matching = entries.filter { entry in
                (topicSet.isEmpty || topicSet.contains(entry.message.contentTopic))
                    && (pubsub == nil || pubsub == entry.pubsubTopic)
                    && (start == nil || (entry.message.timestamp ?? 0) >= start!)
                    && (end == nil || (entry.message.timestamp ?? 0) <= end!)
            }
            matching.sort { ($0.message.timestamp ?? 0, $0.hash) < ($1.message.timestamp ?? 0, $1.hash) }
            if !ascending { matching.reverse() }
            if let cursor = query["cursor"], let position = matching.firstIndex(where: { $0.hash == cursor }) {
                matching.removeFirst(position + 1)
            }
            let page = Array(matching.prefix(pageSize))
            let more = matching.count > page.count
            return (200, StorePage(requestId: "demo-\(storeQueries)", messages: page.map {
                StoredWakuMessage(messageHash: $0.hash, pubsubTopic: $0.pubsubTopic, message: $0.message)
            }, paginationCursor: more ? page.last?.hash : nil), "")
        }

        func subscribe(_ topics: [String]) {
            subscribeCalls += 1
            subscriptions.formUnion(topics)
        }

        /// The cached messages of `pubsubTopic`, removed from the cache (relay/handlers.nim:121-141).
        func drain(_ pubsubTopic: String) -> [WakuMessage]? {
            relayReads += 1
            guard subscriptions.contains(pubsubTopic) else { return nil }
            let drained = relayCache.filter { $0.pubsubTopic == pubsubTopic }
            relayCache.removeAll { $0.pubsubTopic == pubsubTopic }
            return drained.map(\.message)
        }

        func isSubscribed(_ pubsubTopic: String) -> Bool { subscriptions.contains(pubsubTopic) }
        func setStoreDelay(_ delay: Duration) { storeDelay = delay }
        func setHealth(_ value: String) { health = value }
        func forget() { subscriptions.removeAll(); relayCache.removeAll() }
    }

    private init(server: LoopbackHTTPServer, state: State) {
        self.server = server
        self.state = state
    }

    /// - Parameters:
    ///   - shards: pubsub topics subscribed at start (nwaku `--shard`; `builder.nim:144-152`).
    ///   - relayCacheCapacity: nwaku `--rest-relay-cache-capacity`, default 50 (`cli_args.nim:482-486`).
    ///   - storeNode: nwaku `--storenode`; nil for a node that has none (store queries without
    ///     `peerAddr` answer 412).
    public static func start(port: Int = 0, maxPageSize: Int = 100, shards: [String] = [], relayCacheCapacity: Int = 50,
                             storeNode: String? = DemoWakuNode.demoStoreNode) async throws -> DemoWakuNode {
        let state = State(maxPageSize: maxPageSize, relayCacheCapacity: relayCacheCapacity, storeNode: storeNode)
        if !shards.isEmpty { await state.subscribe(shards) }
        let server = try await LoopbackHTTPServer.start(port: port) { request in
            await handle(request, state: state)
        }
        return DemoWakuNode(server: server, state: state)
    }

    public func stop() async { await server.stop() }

    /// Adds a message as if it had been relayed on `pubsubTopic`.
    public func publish(_ message: WakuMessage, pubsubTopic: String = DemoWakuNode.defaultPubsubTopic) async {
        await state.publish(message, pubsubTopic: pubsubTopic)
    }

    public func storeQueryCount() async -> Int { await state.storeQueries }

    /// Relay cache reads so far (`GET /relay/v1/messages/{topic}`).
    public func relayReadCount() async -> Int { await state.relayReads }

    /// Whether the node relays `pubsubTopic` into its REST cache.
    public func isSubscribed(pubsubTopic: String) async -> Bool { await state.isSubscribed(pubsubTopic) }

    /// Every store query from now on is answered after `delay`, as when the remote store peer is
    /// slow: the REST node is a store client and waits for the peer's answer, up to 5 s
    /// (`store/handlers.nim:22, 34-37`; real-peers.md W12). The query is counted on arrival.
    public func delayStoreQueries(by delay: Duration) async { await state.setStoreDelay(min(delay, .seconds(5))) }

    /// `nodeHealth` from now on (`INITIALIZING`, `NOT_READY`, …).
    public func setHealth(_ value: String) async { await state.setHealth(value) }

    static func handle(_ request: LoopbackRequest, state: State) async -> LoopbackResponse {
        let path = request.pathSegments
        // Until its protocols are mounted nwaku answers 404 on their routes (rest_api/endpoint/builder.nim:98-109).
        if let api = path.first, ["store", "relay"].contains(api), await state.health == "INITIALIZING" {
            return .text("/\(api) endpoints are not available while initializing.", status: 404)
        }
        switch (request.method, path) {
        case ("GET", ["health"]):
            // 200 whatever the state; the state is in the body (health/handlers.nim:16-39).
            let health = await state.health
            return .json(HealthReport(nodeHealth: health, protocolsHealth: [["Relay": health], ["Store": health]]))
        case ("GET", ["store", "v3", "messages"]):
            let (status, page, text) = await state.store(request.query)
            let delay = await state.storeDelay
            if delay > .zero { try? await Task.sleep(for: delay) }
            if let page { return .json(page, status: status) }
            return .text(text, status: status)
        case ("POST", ["relay", "v1", "subscriptions"]):
            guard isJSON(request) else { return wrongContentType }
            guard let topics = try? JSONDecoder().decode([String].self, from: request.body), !topics.isEmpty else {
                return .text("Invalid pubsub topics", status: 400)
            }
            // Static-shard names only (relay/handlers.nim:59-87).
            guard topics.allSatisfy(PubsubTopic.isStaticShard) else { return .text("Invalid pubsub topic(s): \(topics)", status: 400) }
            await state.subscribe(topics)
            return .text("OK")
        case ("GET", let segments) where segments.count == 4 && Array(segments.prefix(3)) == ["relay", "v1", "messages"]:
            guard let messages = await state.drain(segments[3]) else {
                return .text("Not subscribed to topic: \(segments[3])", status: 404)
            }
            return .json(messages)
        case ("POST", let segments) where segments.count == 4 && Array(segments.prefix(3)) == ["relay", "v1", "messages"]:
            guard isJSON(request) else { return wrongContentType }
            guard let message = try? JSONDecoder().decode(WakuMessage.self, from: request.body) else {
                return .text("Failed to decode request", status: 400)
            }
            await state.publish(message, pubsubTopic: segments[3])
            return .text("OK")
        case ("POST", ["relay", "v1", "auto", "subscriptions"]), ("DELETE", ["relay", "v1", "auto", "subscriptions"]):
            // ContentSub needs autosharding (node/kernel_api/relay.nim:104-115).
            return .text("Static sharding is used, relay subscriptions must specify a pubsub topic", status: 500)
        case ("POST", ["relay", "v1", "auto", "messages"]):
            return .text("Autosharding is disabled", status: 400)  // relay/handlers.nim:270-320
        case ("GET", let segments) where segments.count == 5 && Array(segments.prefix(4)) == ["relay", "v1", "auto", "messages"]:
            return .text("Not subscribed to topic: \(segments[4])", status: 404)
        default:
            // rest_api/endpoint/builder.nim:52-66.
            return .text("Bad request initiated. Invalid path or method used.", status: 400)
        }
    }

    struct HealthReport: Encodable {
        var nodeHealth: String
        var protocolsHealth: [[String: String]]
    }

    /// JSON bodies need `Content-Type: application/json` or `text/plain` (rest_serdes.nim:31-53).
    static func isJSON(_ request: LoopbackRequest) -> Bool {
        let type = request.headers["content-type"]?.lowercased() ?? ""
        return type.hasPrefix("application/json") || type.hasPrefix("text/plain")
    }

    static let wrongContentType = LoopbackResponse.text("Wrong Content-Type header, expected application/json", status: 400)
}
