import Foundation
import PeerHTTP

/// A client of an nwaku node's REST API as Status runs it (static sharding, cluster 16): store
/// v3 queries, relay by pubsub topic, health. Behaviour of the real node is cited from nwaku
/// `7d1c6aba` (waku-org/nwaku, `waku/waku_api/rest/`; docs/real-network.md lists the versions read).
///
/// ```swift
/// let waku = WakuClient(baseURL: URL(string: "http://127.0.0.1:8645")!)
/// try await waku.subscribe(pubsubTopics: ["/waku/2/rs/16/32"])
/// let history = try await waku.storeAll(.lastDays(30, contentTopics: channel.contentTopics))
/// ```
///
/// Throws `PeerError` when the node cannot be reached or answers an error, and `StoreError`
/// for a store query the node could not serve.
public struct WakuClient: Sendable {
    /// Where Status communities publish: communities no longer have a shard of their own
    /// (status-go `Community.PubsubTopic()` returns "", so links and descriptions go out on the
    /// default cluster-16 shard 32). A community's description may still name an older shard.
    public static let defaultPubsubTopic = "/waku/2/rs/16/32"
    /// nwaku rejects a query with more content topics once it has a cursor
    /// (`waku_archive/archive.nim:25, 179-190`), so every query stays at or under it.
    public static let maxContentTopicsPerQuery = 10

    public let baseURL: URL
    public var transport: any HTTPTransport
    public var retry: RetryPolicy
    public var requestTimeout: Duration

    public init(baseURL: URL, transport: any HTTPTransport = AsyncHTTPClientTransport(), retry: RetryPolicy = .default,
                requestTimeout: Duration = .seconds(30)) {
        self.baseURL = baseURL
        self.transport = transport
        self.retry = retry
        self.requestTimeout = requestTimeout
    }

    /// `GET /health`. nwaku answers 200 whatever its state; the state is `nodeHealth`
    /// (`READY`, `INITIALIZING`, …; `health/types.nim:42-48`).
    public func health() async throws -> NodeHealth {
        try await getJSON(baseURL.appendingPathComponent("health"))
    }

    // MARK: - Store

    /// One page of a store v3 query. Retries a node that answers 5xx or 429, a store peer that
    /// could not be dialled (body statusCode 503/504), and a node still starting (404 while
    /// initializing, `rest_api/endpoint/builder.nim:98-109`).
    public func store(_ query: StoreQuery) async throws -> StorePage {
        let url = storeURL(query)
        return try await retry.run(retryIf: Self.isWorthRetrying) {
            let page: StorePage
            do { page = try await getJSONOnce(url) } catch let error as PeerError where error.kind == .status(412) {
                throw StoreError.noStorePeer(detail: error.detail)
            }
            switch page.statusCode {
            case nil, 200?:
                return page
            case 412?:
                throw StoreError.noStorePeer(detail: page.statusDesc ?? "")
            case let code?:
                throw PeerError(kind: .status(code), method: "GET", url: url.absoluteString, detail: page.statusDesc ?? "store query failed")
            }
        }
    }

    /// Every page of a store query, following `paginationCursor` (at most `maxPages` per
    /// group of topics). More than `maxContentTopicsPerQuery` topics are asked in groups and
    /// the answers merged. A failure after some pages keeps them: the result holds what came,
    /// and `failure` says why the rest did not. Cancellation is thrown.
    public func storeAll(_ query: StoreQuery, maxPages: Int = 1000) async throws -> StoreHistory {
        var history = StoreHistory(messages: [], failure: nil)
        var seen: Set<String> = []
        for group in query.contentTopics.chunked(into: Self.maxContentTopicsPerQuery) {
            var page = query
            page.contentTopics = group
            page.cursor = nil
            do {
                for _ in 0..<maxPages {
                    let answer = try await store(page)
                    history.malformedMessages += answer.malformedMessages
                    for item in answer.messages ?? [] where item.messageHash.map({ seen.insert($0).inserted }) ?? true {
                        history.messages.append(item)
                    }
                    guard let cursor = answer.paginationCursor, !cursor.isEmpty, !(answer.messages ?? []).isEmpty else { break }
                    page.cursor = cursor
                }
            } catch let error as StoreError {
                history.failure = error
            } catch let error as PeerError where error.kind != .cancelled {
                history.failure = .peer(error)
            }
            try Task.checkCancellation()
        }
        return history
    }

    // MARK: - Relay (by pubsub topic)

    /// `POST /relay/v1/subscriptions` with pubsub topics (`relay/handlers.nim:59-87`). Under
    /// static sharding, which Status uses, this is the relay API that works; subscribing twice
    /// is harmless. Nothing is ever unsubscribed: the subscription may be the user's own.
    public func subscribe(pubsubTopics: [String]) async throws {
        try await sendJSON("POST", url: baseURL.appendingPathComponent("relay/v1/subscriptions"), body: pubsubTopics)
    }

    /// `GET /relay/v1/messages/{pubsubTopic}`: the messages the node's relay cache holds for the
    /// topic, which it drops as it answers (`relay/handlers.nim:121-141`). Every content topic of
    /// the shard comes back; the caller picks its own.
    public func relayMessages(pubsubTopic: String) async throws -> [WakuMessage] {
        // One malformed message does not cost the others (they are already drained from the cache).
        let items: [Lenient<WakuMessage>] = try await getJSON(relayMessagesURL(pubsubTopic))
        return items.compactMap(\.value)
    }

    /// `POST /relay/v1/messages/{pubsubTopic}`: publishes a message (the control-node tool uses it).
    public func publish(_ message: WakuMessage, pubsubTopic: String = WakuClient.defaultPubsubTopic) async throws {
        try await sendJSON("POST", url: relayMessagesURL(pubsubTopic), body: message)
    }

    // MARK: - Plumbing

    func storeURL(_ query: StoreQuery) -> URL {
        var components = URLComponents(url: baseURL.appendingPathComponent("store/v3/messages"), resolvingAgainstBaseURL: false)!
        var items = [
            URLQueryItem(name: "contentTopics", value: query.contentTopics.joined(separator: ",")),
            URLQueryItem(name: "includeData", value: "true"),
            URLQueryItem(name: "pageSize", value: "\(query.pageSize)"),
            URLQueryItem(name: "ascending", value: query.ascending ? "true" : "false"),
        ]
        if let peerAddr = query.peerAddr { items.append(URLQueryItem(name: "peerAddr", value: peerAddr)) }
        if let pubsubTopic = query.pubsubTopic { items.append(URLQueryItem(name: "pubsubTopic", value: pubsubTopic)) }
        if let start = query.startTime { items.append(URLQueryItem(name: "startTime", value: "\(start)")) }
        if let end = query.endTime { items.append(URLQueryItem(name: "endTime", value: "\(end)")) }
        if let cursor = query.cursor { items.append(URLQueryItem(name: "cursor", value: cursor)) }
        components.queryItems = items
        // Topics and multiaddrs contain '/', which URLComponents leaves alone in queries; nwaku
        // decodes either way. '+' in a base64 cursor must not read as a space.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return components.url!
    }

    /// The pubsub topic is one path segment: its slashes are percent-encoded (presto decodes
    /// each segment, `segpath.nim:178-185`).
    private func relayMessagesURL(_ pubsubTopic: String) -> URL {
        let encoded = pubsubTopic.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? pubsubTopic
        return URL(string: baseURL.absoluteString.trimmingSuffix("/") + "/relay/v1/messages/" + encoded)!
    }

    static func isWorthRetrying(_ error: PeerError) -> Bool {
        error.isRetryable || error.isInitializing
    }

    private func getJSON<T: Decodable & Sendable>(_ url: URL) async throws -> T {
        try await retry.run(retryIf: Self.isWorthRetrying) { try await getJSONOnce(url) }
    }

    private func getJSONOnce<T: Decodable & Sendable>(_ url: URL) async throws -> T {
        let request = HTTPRequest(url: url, timeout: requestTimeout)
        let response = try await transport.send(request)
        guard response.status == 200 else {
            throw PeerError(kind: .status(response.status), method: "GET", url: url.absoluteString,
                            detail: String(decoding: response.body.prefix(200), as: UTF8.self))
        }
        do { return try JSONDecoder().decode(T.self, from: response.body) } catch {
            throw PeerError(kind: .invalidResponse, method: "GET", url: url.absoluteString,
                            detail: "\(error): \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
    }

    private func sendJSON<Body: Encodable & Sendable>(_ method: String, url: URL, body: Body) async throws {
        _ = try await retry.run(retryIf: Self.isWorthRetrying) {
            let request = HTTPRequest(method: method, url: url, headers: ["Content-Type": "application/json"],
                                      body: try JSONEncoder().encode(body), timeout: requestTimeout)
            let response = try await transport.send(request)
            guard (200..<300).contains(response.status) else {
                throw PeerError(kind: .status(response.status), method: method, url: url.absoluteString,
                                detail: String(decoding: response.body.prefix(200), as: UTF8.self))
            }
            return response.status
        }
    }
}

/// What a store query brought back, and why it stopped early if it did.
public struct StoreHistory: Sendable {
    /// Every message received, de-duplicated by message hash, the pages before a failure included.
    public var messages: [StoredWakuMessage]
    /// Nil when every page of every group of topics came.
    public var failure: StoreError?
    /// Messages that did not decode and were skipped.
    public var malformedMessages = 0

    public init(messages: [StoredWakuMessage], failure: StoreError?, malformedMessages: Int = 0) {
        self.messages = messages
        self.failure = failure
        self.malformedMessages = malformedMessages
    }
}

/// Why a store query could not be served.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// HTTP 412: the node has no store peer to ask (no `--storenode`, none discovered) and no
    /// `peerAddr` was given (`store/handlers.nim:24-25, 232-243`). Configuration, not a glitch.
    case noStorePeer(detail: String)
    case peer(PeerError)

    /// Whether asking again later may help without changing the configuration.
    public var isRetryable: Bool {
        switch self {
        case .noStorePeer: return false
        case .peer(let error): return WakuClient.isWorthRetrying(error)
        }
    }

    /// What the user should change, when retrying will not help.
    public var fix: String? {
        switch self {
        case .noStorePeer:
            return "configure a store peer: pass --store-peer MULTIADDR (agent: \"storePeer\"), or start nwaku with --storenode=MULTIADDR"
        case .peer: return nil
        }
    }

    public var description: String {
        switch self {
        case .noStorePeer(let detail):
            return "the nwaku node has no store peer to ask\(detail.isEmpty ? "" : " (\(detail))"); \(fix!)"
        case .peer(let error): return "\(error)"
        }
    }
}

/// `GET /health` as nwaku writes it: `{"nodeHealth": "READY", "protocolsHealth": [...]}`.
public struct NodeHealth: Codable, Sendable, Equatable {
    public var nodeHealth: String?
    public init(nodeHealth: String?) { self.nodeHealth = nodeHealth }
    /// Only `READY` is ready; HTTP 200 alone means nothing (`health/handlers.nim:16-39`).
    public var isReady: Bool { nodeHealth == "READY" }
}

extension PeerError {
    /// nwaku answers 404 "…endpoints are not available while initializing." until its
    /// protocols are mounted (`rest_api/endpoint/builder.nim:98-109`): a node that is starting.
    public var isInitializing: Bool {
        kind == .status(404) && detail.contains("not available while initializing")
    }
}

extension Array {
    func chunked(into size: Int) -> [[Element]] {
        guard !isEmpty else { return [[]] }
        return stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

/// Pubsub topic names under static sharding, the way Status uses Waku.
public enum PubsubTopic {
    /// Whether `topic` names a static shard, `/waku/2/rs/<cluster>/<shard>` (both numbers
    /// 16-bit), the only form nwaku's `/relay/v1/subscriptions` accepts (`relay/handlers.nim:59-87`).
    public static func isStaticShard(_ topic: String) -> Bool {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 6 && parts[0].isEmpty && parts[1] == "waku" && parts[2] == "2" && parts[3] == "rs"
            && UInt16(parts[4]) != nil && UInt16(parts[5]) != nil
    }
}
