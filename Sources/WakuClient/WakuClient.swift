import Foundation
import PeerHTTP

/// A client of an nwaku node's REST API: store v3 queries, relay subscriptions, health.
///
/// ```swift
/// let waku = WakuClient(baseURL: URL(string: "http://127.0.0.1:8645")!)
/// let messages = try await waku.storeAll(.lastDays(30, contentTopics: channel.contentTopics))
/// ```
public struct WakuClient: Sendable {
    public let baseURL: URL
    public var transport: any HTTPTransport
    public var retry: RetryPolicy
    public var requestTimeout: Duration

    public init(baseURL: URL, transport: any HTTPTransport = URLSessionTransport(), retry: RetryPolicy = .default,
                requestTimeout: Duration = .seconds(30)) {
        self.baseURL = baseURL
        self.transport = transport
        self.retry = retry
        self.requestTimeout = requestTimeout
    }

    /// `GET /health`: any 200 means the node is up.
    public func health() async throws -> Bool {
        let response = try await transport.send(HTTPRequest(url: baseURL.appendingPathComponent("health"), timeout: requestTimeout))
        return response.status == 200
    }

    /// One page of a store v3 query.
    public func store(_ query: StoreQuery) async throws -> StorePage {
        var components = URLComponents(url: baseURL.appendingPathComponent("store/v3/messages"), resolvingAgainstBaseURL: false)!
        var items = [
            URLQueryItem(name: "contentTopics", value: query.contentTopics.joined(separator: ",")),
            URLQueryItem(name: "includeData", value: "true"),
            URLQueryItem(name: "pageSize", value: "\(query.pageSize)"),
            URLQueryItem(name: "ascending", value: query.ascending ? "true" : "false"),
        ]
        if let pubsubTopic = query.pubsubTopic { items.append(URLQueryItem(name: "pubsubTopic", value: pubsubTopic)) }
        if let start = query.startTime { items.append(URLQueryItem(name: "startTime", value: "\(start)")) }
        if let end = query.endTime { items.append(URLQueryItem(name: "endTime", value: "\(end)")) }
        if let cursor = query.cursor { items.append(URLQueryItem(name: "cursor", value: cursor)) }
        components.queryItems = items
        // Topics contain '/', which URLComponents leaves alone in queries; nwaku decodes either way.
        let url = components.url!
        let page: StorePage = try await getJSON(url)
        if let code = page.statusCode, code != 200 {
            throw PeerError(kind: .status(code), method: "GET", url: url.absoluteString, detail: page.statusDesc ?? "store query failed")
        }
        return page
    }

    /// Every page of a store query, following `paginationCursor` (at most `maxPages`).
    public func storeAll(_ query: StoreQuery, maxPages: Int = 1000) async throws -> [StoredWakuMessage] {
        var query = query
        var all: [StoredWakuMessage] = []
        for _ in 0..<maxPages {
            let page = try await store(query)
            all += page.messages ?? []
            guard let cursor = page.paginationCursor, !cursor.isEmpty, !(page.messages ?? []).isEmpty else { break }
            query.cursor = cursor
        }
        return all
    }

    /// `POST /relay/v1/auto/subscriptions`.
    public func subscribe(_ contentTopics: [String]) async throws {
        try await sendJSON("POST", path: "relay/v1/auto/subscriptions", body: contentTopics)
    }

    /// `DELETE /relay/v1/auto/subscriptions`.
    public func unsubscribe(_ contentTopics: [String]) async throws {
        try await sendJSON("DELETE", path: "relay/v1/auto/subscriptions", body: contentTopics)
    }

    /// `GET /relay/v1/auto/messages/{topic}`: messages relayed since the last call (the node
    /// drains its cache on read).
    public func relayMessages(contentTopic: String) async throws -> [WakuMessage] {
        let encoded = contentTopic.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? contentTopic
        let url = URL(string: baseURL.absoluteString.trimmingSuffix("/") + "/relay/v1/auto/messages/" + encoded)!
        return try await getJSON(url)
    }

    /// `POST /relay/v1/auto/messages`: publishes a message (the control-node tool uses it).
    public func publish(_ message: WakuMessage) async throws {
        try await sendJSON("POST", path: "relay/v1/auto/messages", body: message)
    }

    // MARK: - Plumbing

    private func getJSON<T: Decodable & Sendable>(_ url: URL) async throws -> T {
        try await retry.run {
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
    }

    private func sendJSON<Body: Encodable & Sendable>(_ method: String, path: String, body: Body) async throws {
        let url = baseURL.appendingPathComponent(path)
        _ = try await retry.run {
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

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
