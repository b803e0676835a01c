import Crypto
import Foundation
import GroupKeys
import HTTPTypes
import Hummingbird

/// Who may use the API's TCP listener (127.0.0.1): any local user can reach it, only the agent's
/// user can read the cookie file that holds the token (as bitcoind's `.cookie`). The Unix socket
/// needs none of this: its mode is 0600 and no browser reaches it.
///
/// - `Authorization: Bearer <token>` opens everything.
/// - The status page's session cookie (set by `POST /login`, the token typed into a form, never in
///   a URL) opens only the page, its forms and the event stream the page reads; the rest of the
///   API (keys, purges, messages) wants the token. A browser sends a cookie to every port of
///   127.0.0.1, so the cookie is named after the port and is worth no more than that.
/// - A request must name this machine in `Host` (HTTP/1.1's `Host` is swift-http-types'
///   `authority`): a page elsewhere cannot rebind its own name to 127.0.0.1.
/// - A session's request must come from the page itself: `Sec-Fetch-Site` same-origin (or none: a
///   typed address), and an `Origin` of this server on anything that changes something.
///
/// Otherwise: 401 for the API, the sign-in form for the page, 403 for a foreign `Host` or origin.
struct LocalAccessMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    /// The session cookie's name on the listener `request` reached (its port, from `Host`).
    static func cookieName(for request: Request) -> String {
        "community-history-session-\(request.head.authority.flatMap(port(of:)) ?? 80)"
    }

    /// The session cookie's value: derived from the token, so it changes at each start (a new
    /// token) and the agent keeps no session table.
    static func session(for token: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("status page session".utf8), using: SymmetricKey(data: Data(token.utf8)))
        return Data(mac).map { String(format: "%02x", $0) }.joined()
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.namesThisMachine(request.head.authority) else {
            throw APIError(status: .forbidden, code: "foreign-host", message: "the local API answers only requests for 127.0.0.1 or localhost")
        }
        if hasBearerToken(request) { return try await next(request, context) }
        let path = request.uri.path, changes = request.method != .get && request.method != .head
        if StatusPage.isPublic(method: request.method, path: path) {
            if changes { try requireSameOrigin(request) }
            return try await next(request, context)
        }
        let session = hasSession(request)
        if session, StatusPage.sessionMayUse(method: request.method, path: path) {
            try requireSameSite(request)
            if changes { try requireSameOrigin(request) }
            return try await next(request, context)
        }
        // A person at the page gets the form that asks for the token; a program, a 401.
        if !session, request.method == .get, path == StatusPage.path { return StatusPage.loginPage(failed: false) }
        throw APIError(status: .unauthorized, code: "unauthorized",
                       message: "send Authorization: Bearer <the token in the agent's cookie file>")
    }

    private func hasBearerToken(_ request: Request) -> Bool {
        // The scheme's name is case-insensitive (RFC 9110, 11.1); the token is not.
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else { return false }
        return Self.equalInConstantTime(String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces), token)
    }

    private func hasSession(_ request: Request) -> Bool {
        guard let cookies = request.headers[.cookie] else { return false }
        let name = Self.cookieName(for: request)
        let expected = Self.session(for: token)
        return cookies.split(separator: ";").contains { pair in
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            return parts.count == 2 && parts[0] == name && Self.equalInConstantTime(String(parts[1]), expected)
        }
    }

    /// A browser says where a request comes from (`Sec-Fetch-Site`): a session's must be the
    /// page's own, or the person's typing. Another port of 127.0.0.1 is the same *site* (so a
    /// SameSite cookie goes with it) but not the same origin.
    private func requireSameSite(_ request: Request) throws {
        guard let site = request.headers[Self.fetchSite] else { return }  // not a browser
        guard site == "same-origin" || site == "none" else {
            throw APIError(status: .forbidden, code: "cross-origin", message: "requests from another origin (\(site)) are refused")
        }
    }

    /// A request that changes something must name this server as its `Origin`.
    private func requireSameOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin], let host = request.head.authority, origin == "http://\(host)" else {
            throw APIError(status: .forbidden, code: "cross-origin",
                           message: "a form must come from the status page itself (Origin \(request.headers[.origin] ?? "missing"))")
        }
    }

    static let fetchSite = HTTPField.Name("Sec-Fetch-Site")!

    /// The port an `authority` names (`127.0.0.1:8790` → 8790; none: 80).
    static func port(of authority: String) -> Int? {
        guard let colon = authority.lastIndex(of: ":"), !authority[colon...].contains("]") else { return nil }
        return Int(authority[authority.index(after: colon)...])
    }

    /// `Host` is 127.0.0.1, localhost or [::1], with any port (the bound port is the listener's).
    static func namesThisMachine(_ host: String?) -> Bool {
        guard let host else { return false }
        let name: Substring
        if host.hasPrefix("[") { name = host.prefix { $0 != "]" }.dropFirst() } else { name = host.split(separator: ":").first ?? "" }
        return ["127.0.0.1", "localhost", "::1"].contains(name.lowercased())
    }

    /// Compares without returning early, so the time taken says nothing about the token.
    static func equalInConstantTime(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<min(x.count, y.count) { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

/// The cookie file: a fresh random token written at each start, readable by the user only.
enum CookieFile {
    /// Writes a new token to `path` (mode 0600, replacing an older file) and returns it.
    static func writeNewToken(at path: String) throws -> String {
        let token = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.map { String(format: "%02x", $0) }.joined()
        do { try PrivateFile.write(Data(token.utf8), to: path) } catch let error as PrivateFile.WriteError {
            throw LocalAPIError.cannotWriteCookie(path: path, errno: error.errno)
        }
        return token
    }
}
