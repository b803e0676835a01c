import AgentService
import HTTPTypes
import Foundation
import GroupKeys
import HistoryStore
import Hummingbird
import StatusCrypto
import StatusWire

/// One route of the local API: its method and its path as the OpenAPI document writes it
/// (`{id}` is a parameter). `AgentAPI.routes` lists them all; a test checks that list, the
/// router and `docs/agent-api.openapi.json` against each other.
public struct APIRoute: Sendable, Hashable, CustomStringConvertible {
    public var method: String
    public var path: String
    public var description: String { "\(method) \(path)" }
}

/// The local API a chat client uses beside the agent (README, "The local API"; the routes and
/// their JSON: `docs/agent-api.openapi.json`). It reads and writes through the running agent
/// and its database; the transport (a Unix socket, or 127.0.0.1 with a token) is `LocalAPIServer`'s.
///
/// ```swift
/// let router = AgentAPI(agent: agent).router()
/// ```
public struct AgentAPI: Sendable {
    let agent: HistoryAgent
    /// Largest page a request may ask for.
    static let maxPageSize = 1_000
    static let defaultPageSize = 50
    /// Largest batch of local copies in one request (and the body's size with it).
    static let maxBatch = 10_000
    static let maxBodyBytes = 64 << 20
    /// How often an idle event stream sends a comment line, so a client that left is noticed.
    let heartbeat: Duration

    public init(agent: HistoryAgent, heartbeat: Duration = .seconds(15)) {
        self.agent = agent
        self.heartbeat = heartbeat
    }

    public static let routes: [APIRoute] = [
        APIRoute(method: "GET", path: "/v1/health"),
        APIRoute(method: "GET", path: "/v1/metrics"),
        APIRoute(method: "GET", path: "/v1/events"),
        APIRoute(method: "GET", path: "/v1/communities"),
        APIRoute(method: "POST", path: "/v1/communities"),
        APIRoute(method: "GET", path: "/v1/communities/{id}"),
        APIRoute(method: "DELETE", path: "/v1/communities/{id}"),
        APIRoute(method: "POST", path: "/v1/communities/{id}/rescan"),
        APIRoute(method: "GET", path: "/v1/communities/{id}/messages"),
        APIRoute(method: "POST", path: "/v1/communities/{id}/local-messages"),
        APIRoute(method: "POST", path: "/v1/keys"),
    ]

    /// The status page and its forms (`StatusPage`), served beside the API.
    public static var pageRoutes: [APIRoute] { StatusPage.routes }

    typealias Handler = @Sendable (Request, BasicRequestContext) async throws -> Response

    /// Each route's handler, in `routes`' order.
    private var handlers: [APIRoute: Handler] {
        [
            Self.routes[0]: { _, _ in try await health() },
            Self.routes[1]: { _, _ in metrics() },
            Self.routes[2]: { request, _ in events(request) },
            Self.routes[3]: { request, _ in try await listCommunities(request) },
            Self.routes[4]: { request, _ in try await join(request) },
            Self.routes[5]: { _, context in try await community(try communityID(context)) },
            Self.routes[6]: { request, context in try await leave(try communityID(context), request) },
            Self.routes[7]: { _, context in try await rescan(try communityID(context)) },
            Self.routes[8]: { request, context in try await messages(try communityID(context), request) },
            Self.routes[9]: { request, context in try await postLocalCopies(try communityID(context), request) },
            Self.routes[10]: { request, _ in try await importKeys(request) },
        ]
    }

    /// A router serving every route and the status page; with `token` (the TCP listener), each
    /// request must carry `Authorization: Bearer <token>` or the status page's session
    /// (`LocalAccessMiddleware`).
    public func router(token: String? = nil) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        if let token { router.add(middleware: LocalAccessMiddleware(token: token)) }
        let handlers = self.handlers
        for route in Self.routes {
            router.on(RouterPath(route.path), method: HTTPRequest.Method(route.method)!, use: handlers[route]!)
        }
        StatusPage(agent: agent, token: token).add(to: router)
        return router
    }

    // MARK: Handlers

    private func health() async throws -> Response {
        let health = await agent.health()
        return try JSONResponse(Versioned(body: HealthView(health: health)), status: health.status == .ok ? .ok : .serviceUnavailable)
    }

    private func metrics() -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                 body: .init(byteBuffer: ByteBuffer(string: agent.prometheusText())))
    }

    /// `?limit=&after=`: a page in ID order, with `next` when more follow; without `limit`, all
    /// of them (a thousand communities' statuses take a while: page them).
    private func listCommunities(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        var limit: Int?
        if let text = query["limit"] {
            guard let value = Int(text), (1...Self.maxPageSize).contains(value) else {
                throw APIError.badRequest("limit must be 1...\(Self.maxPageSize), not \(text)")
            }
            limit = value
        }
        var after: CommunityID?
        if let text = query["after"] {
            guard let id = try? CommunityID(String(text)) else {
                throw APIError.badRequest("after must be a community ID as the API returns it (0x + 66 hex digits), not \(text)")
            }
            after = id
        }
        let page: FollowedCommunitiesPage
        do { page = try await agent.followedCommunities(after: after, limit: limit) } catch {
            throw APIError(status: .serviceUnavailable, code: "database", message: "cannot read the communities' status: \(error)", retryable: true)
        }
        let views = page.communities.map { CommunityView(followed: $0, pubsubTopic: agent.configuration.pubsubTopic(of: $0.settings)) }
        return try JSONResponse(Versioned(body: CommunityList(communities: views, next: page.next?.string)))
    }

    private func community(_ id: CommunityID) async throws -> Response {
        guard let view = try await followedCommunities(only: id).first else {
            throw APIError(status: .notFound, code: "not-followed", message: "community \(id) is not followed (join it first)")
        }
        return try JSONResponse(Versioned(body: view))
    }

    private func join(_ request: Request) async throws -> Response {
        let body = try await collectBody(request)
        let community: AgentConfiguration.Community
        do { community = try AgentConfiguration.Community.decodeChecked(body) } catch let error as DecodingError {
            throw APIError.badRequest("the body is not what this route takes: \(Self.describe(error))")
        } catch let error as AgentConfigurationError {
            throw APIError(status: .badRequest, code: "invalid-settings", message: error.description)
        } catch {
            throw APIError.badRequest("the body is not JSON: \(error)")
        }
        let outcome: JoinOutcome
        do { outcome = try await agent.join(community) } catch { throw Self.apiError(error) }
        var view: CommunityView?
        if let id = try? community.communityID() {  // accepted by join: it parses
            view = try await followedCommunities(only: id).first
        }
        return try JSONResponse(Versioned(body: JoinResult(outcome: outcome.rawValue, community: view)),
                                status: outcome == .joined ? .created : .ok)
    }

    private func leave(_ id: CommunityID, _ request: Request) async throws -> Response {
        let purge = try flag("purge", in: request)
        let deleted: Int
        do { deleted = try await agent.leave(id, purge: purge) } catch { throw Self.apiError(error) }
        return try JSONResponse(Versioned(body: LeaveResult(communityID: id.string, purged: purge, messagesDeleted: deleted)))
    }

    /// `{"keys": [{"groupID", "timestamp", "key", "keyID"?}]}`, as `keys import` reads them (one
    /// object per line there). The answer counts them; it never holds a key.
    private func importKeys(_ request: Request) async throws -> Response {
        let body = try await collectBody(request)
        // Each entry becomes one line of what `keys import` reads, so both check keys one way.
        // Only objects are serialized back: on Linux, serializing anything else is a fatalError.
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any], object.count == 1,
              let entries = object["keys"] as? [[String: Any]],
              let lines = try? entries.map({ try JSONSerialization.data(withJSONObject: $0) })
        else { throw APIError.badRequest("the body is not {\"keys\": [{\"groupID\", \"timestamp\", \"key\", \"keyID\"}]}") }
        let keys: [GroupKey]
        do { keys = try GroupKeyStore.parseImport(Data(lines.joined(separator: Data("\n".utf8)))) } catch {
            // Says which entry (line n is keys[n-1]) and why, never the key's bytes.
            throw APIError(status: .badRequest, code: "invalid-keys", message: "\(error)".replacingOccurrences(of: "line ", with: "entry "))
        }
        let result: HistoryAgent.KeysImport
        do { result = try await agent.importKeys(keys) } catch { throw Self.apiError(error) }
        return try JSONResponse(Versioned(body: KeysImportResult(added: result.added, known: result.known,
                                                                   messagesReleased: result.messagesReleased,
                                                                   resumed: result.resumed.map(\.string))))
    }

    private func rescan(_ id: CommunityID) async throws -> Response {
        do { try await agent.rescan(id) } catch { throw Self.apiError(error) }
        return try JSONResponse(Versioned(body: RescanResult(communityID: id.string, rescanning: true)), status: .accepted)
    }

    private func messages(_ id: CommunityID, _ request: Request) async throws -> Response {
        try requireFollowed(id)
        let query = request.uri.queryParameters
        var limit = Self.defaultPageSize
        if let text = query["limit"] {
            guard let value = Int(text), (1...Self.maxPageSize).contains(value) else {
                throw APIError.badRequest("limit must be 1...\(Self.maxPageSize), not \(text)")
            }
            limit = value
        }
        func cursor(_ name: String) throws -> MessageCursor? {
            guard let text = query[Substring(name)] else { return nil }
            guard let cursor = MessageCursor(String(text)) else {
                throw APIError.badRequest("\(name) must be a cursor as the API returns it (<milliseconds>-<message id>), not \(text)")
            }
            return cursor
        }
        let before = try cursor("before"), after = try cursor("after")
        let position: PagePosition
        switch (before, after) {
        case (nil, nil): position = .newest
        case (let before?, nil): position = .before(before)
        case (nil, let after?): position = .after(after)
        case (.some, .some): throw APIError.badRequest("give before or after, not both")
        }
        let page: MessagePage
        do {
            var chatID: String?
            if let channel = query["channel"].map(String.init) {
                do { chatID = try await agent.history.channelNames(communityID: id.string).chatID(for: channel, communityID: id.string) } catch let error as AmbiguousChannelName {
                    throw APIError.badRequest(error.description)
                }
            }
            page = try await agent.history.messagePage(communityID: id.string, chatID: chatID, position: position, limit: limit)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(status: .serviceUnavailable, code: "database", message: "cannot read the messages: \(error)", retryable: true)
        }
        return try JSONResponse(Versioned(body: MessagePageView(page: page)))
    }

    private func postLocalCopies(_ id: CommunityID, _ request: Request) async throws -> Response {
        try requireFollowed(id)
        let input: LocalMessagesInput = try await decodeBody(request)
        guard input.messages.count <= Self.maxBatch else {
            throw APIError.badRequest("at most \(Self.maxBatch) messages a request, not \(input.messages.count)")
        }
        var copies: [StoredMessage] = []
        for (index, message) in input.messages.enumerated() {
            copies.append(try Self.storedMessage(message, index: index, communityID: id.string))
        }
        let result: LocalCopiesResult
        do { result = try await agent.history.insertLocalMessages(copies) } catch {
            throw APIError(status: .serviceUnavailable, code: "database", message: "the local copies were not stored: \(error)", retryable: true)
        }
        return try JSONResponse(Versioned(body: LocalMessagesResult(inserted: result.inserted, alreadyStored: result.alreadyStored)))
    }

    private func events(_ request: Request) -> Response {
        let lastEventID = request.headers[HTTPField.Name.lastEventID] ?? request.uri.queryParameters["lastEventId"].map(String.init)
        let subscription = agent.hub.subscribe(after: lastEventID)
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                        body: EventStreamBody.body(subscription, run: agent.hub.run, heartbeat: heartbeat))
    }

    // MARK: Helpers

    private func followedCommunities(only: CommunityID? = nil) async throws -> [CommunityView] {
        let followed: [FollowedCommunityStatus]
        do { followed = try await agent.followedCommunities(only: only) } catch {
            throw APIError(status: .serviceUnavailable, code: "database", message: "cannot read the communities' status: \(error)", retryable: true)
        }
        return followed.map { status in
            CommunityView(followed: status, pubsubTopic: agent.configuration.pubsubTopic(of: status.settings))
        }
    }

    /// Pages and local copies are only for followed communities; asked of the agent's memory, so a
    /// page costs its rows, not every community's status.
    private func requireFollowed(_ id: CommunityID) throws {
        guard agent.isFollowed(id) else {
            throw APIError(status: .notFound, code: "not-followed", message: "community \(id) is not followed (join it first)")
        }
    }

    private func communityID(_ context: BasicRequestContext) throws -> CommunityID {
        let text = try context.parameters.require("id")
        do { return try CommunityID(text) } catch {
            throw APIError.badRequest("\(text) is not a community ID: \(error)")
        }
    }

    private func flag(_ name: String, in request: Request) throws -> Bool {
        guard let text = request.uri.queryParameters[Substring(name)] else { return false }
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default: throw APIError.badRequest("\(name) must be true or false, not \(text)")
        }
    }

    private func collectBody(_ request: Request) async throws -> Data {
        do { return Data(try await request.body.collect(upTo: Self.maxBodyBytes).readableBytesView) } catch {
            throw APIError(status: .contentTooLarge, code: "too-large", message: "the body is over \(Self.maxBodyBytes) bytes")
        }
    }

    private func decodeBody<T: Decodable>(_ request: Request) async throws -> T {
        let body = try await collectBody(request)
        do { return try JSONDecoder().decode(T.self, from: body) } catch let error as DecodingError {
            throw APIError.badRequest("the body is not what this route takes: \(Self.describe(error))")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return path.isEmpty ? "the body" : String(path.trimmingPrefix("."))
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is missing".replacingOccurrences(of: "the body.", with: "")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context): return "\(path(context)) must be \(type)"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// A local copy as the store takes it, or a 400 that names the message and the field.
    static func storedMessage(_ input: LocalMessageInput, index: Int, communityID: String) throws -> StoredMessage {
        func bad(_ reason: String) -> APIError { .badRequest("messages[\(index)]: \(reason)") }
        guard !input.id.isEmpty else { throw bad("id is empty") }
        guard input.author.hasPrefix("0x"), input.author.count > 2 else { throw bad("author must be 0x + the public key in hex") }
        guard !input.contentTopic.isEmpty else { throw bad("contentTopic is empty") }
        guard input.type >= 0 else { throw bad("type must not be negative") }
        guard input.timestamp >= 0 else { throw bad("timestamp must be milliseconds since 1970") }
        var payload = Data()
        if let text = input.payload {
            guard let data = Data(base64Encoded: text) else { throw bad("payload must be base64") }
            payload = data
        }
        return StoredMessage(id: input.id, communityID: communityID, chatID: input.chatID.map { ChannelName.chatID(for: $0, in: communityID) },
                             contentTopic: input.contentTopic, author: input.author, type: input.type, clock: input.clock,
                             timestamp: input.timestamp, payload: payload, text: input.text, source: .local)
    }

    static func apiError(_ error: AgentControlError) -> APIError {
        switch error {
        case .invalid(let reason): return APIError(status: .badRequest, code: "invalid-settings", message: reason)
        case .notFollowed: return APIError(status: .notFound, code: "not-followed", message: error.description)
        case .setInConfiguration: return APIError(status: .conflict, code: "set-in-configuration", message: error.description)
        case .busy: return APIError(status: .conflict, code: "busy", message: error.description, retryable: true)
        case .database: return APIError(status: .serviceUnavailable, code: "database", message: error.description, retryable: true)
        case .notRunning: return APIError(status: .serviceUnavailable, code: "not-running", message: error.description, retryable: true)
        case .keyStore: return APIError(status: .serviceUnavailable, code: "key-store", message: error.description, retryable: true)
        }
    }

}
