import Foundation
import LocalHTTPServer
import WakuClient

/// A loopback nwaku node: the REST API's store v3, relay (auto-sharding) and health,
/// backed by an in-memory message list. Store pages are capped at `maxPageSize`, so
/// clients must follow `paginationCursor` as with a real node.
///
/// ```swift
/// let waku = try await DemoWakuNode.start(maxPageSize: 20)
/// let client = WakuClient(baseURL: waku.baseURL)
/// ```
public final class DemoWakuNode: Sendable {
    public static let defaultPubsubTopic = "/waku/2/rs/16/32"

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
        var subscriptions: Set<String> = []
        var relayCache: [String: [WakuMessage]] = [:]
        var storeQueries = 0
        let maxPageSize: Int

        init(maxPageSize: Int) { self.maxPageSize = maxPageSize }

        func publish(_ message: WakuMessage, pubsubTopic: String) {
            let hash = message.hash(pubsubTopic: pubsubTopic)
            guard !entries.contains(where: { $0.hash == hash }) else { return }
            entries.append(Entry(hash: hash, pubsubTopic: pubsubTopic, message: message))
            if subscriptions.contains(message.contentTopic) {
                relayCache[message.contentTopic, default: []].append(message)
            }
        }

        func store(_ query: [String: String]) -> StorePage {
            storeQueries += 1
            let topics = Set((query["contentTopics"] ?? "").split(separator: ",").map(String.init))
            let pubsub = query["pubsubTopic"]
            let start = query["startTime"].flatMap { Int64($0) }
            let end = query["endTime"].flatMap { Int64($0) }
            let ascending = query["ascending"] != "false"
            let pageSize = min(max(1, Int(query["pageSize"] ?? "") ?? 20), maxPageSize)
            var matching = entries.filter { entry in
                (topics.isEmpty || topics.contains(entry.message.contentTopic))
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
            return StorePage(requestId: "demo-\(storeQueries)", messages: page.map {
                StoredWakuMessage(messageHash: $0.hash, pubsubTopic: $0.pubsubTopic, message: $0.message)
            }, paginationCursor: more ? page.last?.hash : nil)
        }

        func subscribe(_ topics: [String]) { subscriptions.formUnion(topics) }
        func unsubscribe(_ topics: [String]) { subscriptions.subtract(topics) }

        func drain(_ topic: String) -> [WakuMessage]? {
            guard subscriptions.contains(topic) else { return nil }
            defer { relayCache[topic] = [] }
            return relayCache[topic] ?? []
        }

        func isSubscribed(_ topic: String) -> Bool { subscriptions.contains(topic) }
    }

    private init(server: LoopbackHTTPServer, state: State) {
        self.server = server
        self.state = state
    }

    public static func start(port: Int = 0, maxPageSize: Int = 100) async throws -> DemoWakuNode {
        let state = State(maxPageSize: maxPageSize)
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

    /// Whether a client subscribed to `contentTopic` on the relay.
    public func isSubscribed(_ contentTopic: String) async -> Bool { await state.isSubscribed(contentTopic) }

    static func handle(_ request: LoopbackRequest, state: State) async -> LoopbackResponse {
        let path = request.pathSegments
        switch (request.method, path) {
        case ("GET", ["health"]):
            return .json(["nodeHealth": "Ready"])
        case ("GET", ["store", "v3", "messages"]):
            return .json(await state.store(request.query))
        case ("POST", ["relay", "v1", "auto", "subscriptions"]), ("DELETE", ["relay", "v1", "auto", "subscriptions"]):
            guard let topics = try? JSONDecoder().decode([String].self, from: request.body) else {
                return .text("expected a JSON array of content topics", status: 400)
            }
            if request.method == "POST" { await state.subscribe(topics) } else { await state.unsubscribe(topics) }
            return .text("OK")
        case ("POST", ["relay", "v1", "auto", "messages"]):
            guard let message = try? JSONDecoder().decode(WakuMessage.self, from: request.body) else {
                return .text("expected a JSON Waku message", status: 400)
            }
            await state.publish(message, pubsubTopic: defaultPubsubTopic)
            return .text("OK")
        case ("GET", let segments) where segments.count == 5 && Array(segments.prefix(4)) == ["relay", "v1", "auto", "messages"]:
            // Like nwaku: reading a topic the node is not subscribed to is an error.
            guard let messages = await state.drain(segments[4]) else {
                return .text("Not subscribed to topic: \(segments[4])", status: 404)
            }
            return .json(messages)
        default:
            return .text("not found", status: 404)
        }
    }
}
