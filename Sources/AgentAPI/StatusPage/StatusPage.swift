import AgentService
import ArchiveImport
import Foundation
import HTTPTypes
import Hummingbird
import StatusCrypto

/// The agent's status page: what a person looks at instead of reading logs. Each followed
/// community with its weeks as a coverage strip, the running sync's progress (live, from the
/// event stream), the last error and the peers' fixes, the group keys held, and forms to join,
/// leave and rescan. Served by the local API on the same listeners and with the same access
/// rules (`LocalAccessMiddleware`): on 127.0.0.1 a person types the token into the login form
/// once; it never appears in a URL.
///
/// The page is whole without JavaScript (server-rendered; the buttons are forms that post and
/// come back). `status.js` only moves the progress bars as events arrive. Nothing is loaded from
/// anywhere else, and the Content-Security-Policy says so.
///
/// ```swift
/// StatusPage(agent: agent, token: token).add(to: router)   // GET /, the forms, status.css, status.js
/// ```
struct StatusPage: Sendable {
    let agent: HistoryAgent
    /// The TCP listener's token; nil on the Unix socket (no login there).
    let token: String?

    static let path = "/"
    static let loginPath = "/login"
    static let stylesheetPath = "/status.css"
    static let scriptPath = "/status.js"

    /// What anyone who can reach the listener may ask for: the login form's post, and the
    /// stylesheet and script (the same for everyone, no data in them).
    static func isPublic(method: HTTPRequest.Method, path: String) -> Bool {
        (method == .post && path == loginPath) || (method == .get && (path == stylesheetPath || path == scriptPath))
    }

    /// What the session cookie opens: the page, its forms, and the event stream its script reads.
    static func sessionMayUse(method: HTTPRequest.Method, path: String) -> Bool {
        switch method {
        case .get: return path == Self.path || path == "/v1/events"
        case .post:
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            return path == "/communities" || (parts.count == 4 && parts[1] == "communities" && (parts[3] == "rescan" || parts[3] == "leave"))
        default: return false
        }
    }

    /// The page's and forms' routes (listed beside the API's in `docs/agent-api.openapi.json`).
    static let routes: [APIRoute] = [
        APIRoute(method: "GET", path: path),
        APIRoute(method: "POST", path: loginPath),
        APIRoute(method: "GET", path: stylesheetPath),
        APIRoute(method: "GET", path: scriptPath),
        APIRoute(method: "POST", path: "/communities"),
        APIRoute(method: "POST", path: "/communities/{id}/rescan"),
        APIRoute(method: "POST", path: "/communities/{id}/leave"),
    ]

    func add(to router: Router<BasicRequestContext>) {
        router.get(RouterPath(Self.path)) { request, _ in
            // `after` comes from this page's own "next page" link: anything else is said, with the first page.
            guard let text = request.uri.queryParameters["after"] else { return try await page() }
            guard let after = try? CommunityID(String(text)) else {
                return try await page(notice: "\(text) is not a community ID: the first page is shown", status: .badRequest)
            }
            return try await page(after: after)
        }
        router.post(RouterPath(Self.loginPath)) { request, _ in try await login(request) }
        router.get(RouterPath(Self.stylesheetPath)) { _, _ in Self.asset(StatusPageAssets.stylesheet, type: "text/css; charset=utf-8") }
        router.get(RouterPath(Self.scriptPath)) { _, _ in Self.asset(StatusPageAssets.script, type: "text/javascript; charset=utf-8") }
        router.post("/communities") { request, _ in try await join(request) }
        router.post("/communities/{id}/rescan") { _, context in try await act(context) { try await agent.rescan($0) } }
        router.post("/communities/{id}/leave") { _, context in try await act(context) { _ = try await agent.leave($0, purge: false) } }
    }

    // MARK: Pages

    /// Communities on one page: each costs its statuses and weeks, and a thousand on one page
    /// took seconds to read and to look through.
    static let communitiesPerPage = 50

    func page(notice: String? = nil, status: HTTPResponse.Status = .ok, after: CommunityID? = nil) async throws -> Response {
        var problems: [String] = notice.map { [$0] } ?? []
        let followed: [FollowedCommunityStatus]
        var next: CommunityID?
        do {
            let page = try await agent.followedCommunities(after: after, limit: Self.communitiesPerPage)
            (followed, next) = (page.communities, page.next)
        } catch {
            followed = []
            problems.append("cannot read the communities' status: \(error)")
        }
        var communities: [StatusPageView.Community] = []
        for community in followed {
            do {
                let weeks = try await agent.history.weekCoverage(communityID: community.communityID, decoderRevision: ArchiveImporter.decoderRevision)
                communities.append(.init(status: community, weeks: weeks))
            } catch {
                communities.append(.init(status: community, weeks: []))
                problems.append("cannot read the weeks of \(community.communityID): \(error)")
            }
        }
        let view = StatusPageView(health: await agent.health(), communities: communities, heldKeyIDs: agent.heldKeyIDs,
                                  problems: problems, databasePath: agent.history.path, followedCount: agent.followedCount,
                                  after: after?.string, next: next?.string)
        return Self.html(view.render(), status: status)
    }

    static func loginPage(failed: Bool) -> Response {
        html(StatusPageView.login(failed: failed), status: failed ? .unauthorized : .ok)
    }

    // MARK: Forms

    private func login(_ request: Request) async throws -> Response {
        guard let token else { return Self.redirect(to: Self.path) }
        let form = try await Self.form(request)
        guard let typed = form["token"], LocalAccessMiddleware.equalInConstantTime(typed.trimmingCharacters(in: .whitespacesAndNewlines), token) else {
            return Self.loginPage(failed: true)
        }
        var response = Self.redirect(to: Self.path)
        // Named after the port: a browser sends a cookie to every port of 127.0.0.1, and two
        // agents must not overwrite each other's session.
        response.headers[.setCookie] = "\(LocalAccessMiddleware.cookieName(for: request))=\(LocalAccessMiddleware.session(for: token)); HttpOnly; SameSite=Strict; Path=/"
        return response
    }

    private func join(_ request: Request) async throws -> Response {
        let form = try await Self.form(request)
        let id = (form["id"] ?? "").trimmingCharacters(in: .whitespaces)
        let mode = form["mode"].flatMap { $0.isEmpty ? nil : $0 }
        do {
            var object: [String: String] = ["id": id]
            if let mode { object["mode"] = mode }
            let community = try AgentConfiguration.Community.decodeChecked(try JSONSerialization.data(withJSONObject: object))
            _ = try await agent.join(community)
        } catch {
            return try await page(notice: "cannot join \(id): \(error)", status: .badRequest)
        }
        return Self.redirect(to: Self.path)
    }

    private func act(_ context: BasicRequestContext, _ action: (CommunityID) async throws -> Void) async throws -> Response {
        let text = try context.parameters.require("id")
        do { try await action(try CommunityID(text)) } catch {
            return try await page(notice: "\(text): \(error)", status: .badRequest)
        }
        // Post, then redirect, then get: reloading the page does not post again.
        return Self.redirect(to: Self.path)
    }

    // MARK: Responses

    /// Headers every page carries: nothing from elsewhere, no framing, no caching of history.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff",
        // Not `no-referrer`: under it a browser sends `Origin: null` with the page's own forms,
        // which the same-origin check must then refuse. `same-origin` gives nothing to others.
        HTTPField.Name("Referrer-Policy")!: "same-origin",
        .cacheControl: "no-store",
    ]

    static func html(_ text: String, status: HTTPResponse.Status) -> Response {
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers = securityHeaders
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(to path: String) -> Response {
        Response(status: .seeOther, headers: [.location: path])
    }

    /// An `application/x-www-form-urlencoded` body (a form's post), up to 64 KiB.
    static func form(_ request: Request) async throws -> [String: String] {
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: 64 << 10) } catch {
            throw APIError(status: .contentTooLarge, code: "too-large", message: "a form's body is at most 64 KiB")
        }
        guard request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true else {
            throw APIError(status: .unsupportedMediaType, code: "not-a-form", message: "send the form as application/x-www-form-urlencoded")
        }
        var fields: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            // '+' is a space in a form's encoding; then the percent escapes.
            guard let key = parts[0].replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
                  let value = (parts.count > 1 ? parts[1] : "").replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                throw APIError.badRequest("the form's encoding is damaged (a % not followed by two hex digits)")
            }
            fields[key] = value
        }
        return fields
    }
}
