import Crypto
import Foundation
import GroupKeys
import HTTPTypes
import Hummingbird

/// Who may use the API's TCP listener (127.0.0.1): any local user can reach it, only the agent's
/// user can read the cookie file that holds the token (as bitcoind's `.cookie`). The Unix socket
/// needs none of this: its mode is 0600 and no browser reaches it.
///
/// A request passes with `Authorization: Bearer <token>`, or, from the status page in a browser,
/// with the session cookie that `POST /login` (the token typed into a form, never in a URL) sets.
/// Either way it must name this machine in `Host` (a page elsewhere cannot rebind its own name
/// to 127.0.0.1), and a cookie's request that changes something must come from the page itself
/// (`Origin`), so another site cannot submit a form here. (HTTP/1.1's `Host` is the request's
/// `authority` in swift-http-types.) Otherwise: 401 for the API, the login
/// form for the page, 403 for a foreign `Host` or `Origin`.
struct LocalAccessMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    /// The session cookie's name and value: derived from the token, so it changes at each start
    /// (a new token) and the agent keeps no session table.
    static let cookieName = "community-history-session"
    var sessionValue: String { Self.session(for: token) }

    static func session(for token: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("status page session".utf8), using: SymmetricKey(data: Data(token.utf8)))
        return Data(mac).map { String(format: "%02x", $0) }.joined()
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.namesThisMachine(request.head.authority) else {
            throw APIError(status: .forbidden, code: "foreign-host", message: "the local API answers only requests for 127.0.0.1 or localhost")
        }
        if hasBearerToken(request) { return try await next(request, context) }
        let path = request.uri.path
        if StatusPage.isPublic(method: request.method, path: path) {
            try requireSameOrigin(request)
            return try await next(request, context)
        }
        guard hasSession(request) else {
            // A person at the page gets the form that asks for the token; a program, a 401.
            if request.method == .get, path == StatusPage.path { return StatusPage.loginPage(failed: false) }
            throw APIError(status: .unauthorized, code: "unauthorized",
                           message: "send Authorization: Bearer <the token in the agent's cookie file>")
        }
        if request.method != .get && request.method != .head { try requireSameOrigin(request) }
        return try await next(request, context)
    }

    private func hasBearerToken(_ request: Request) -> Bool {
        // The scheme's name is case-insensitive (RFC 9110, 11.1); the token is not.
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else { return false }
        return Self.equalInConstantTime(String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces), token)
    }

    private func hasSession(_ request: Request) -> Bool {
        guard let cookies = request.headers[.cookie] else { return false }
        let expected = sessionValue
        return cookies.split(separator: ";").contains { pair in
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            return parts.count == 2 && parts[0] == Self.cookieName && Self.equalInConstantTime(String(parts[1]), expected)
        }
    }

    /// A browser names the page that sent a form in `Origin`: it must be this server's own.
    private func requireSameOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin] else { return }  // not a browser's cross-site request
        guard let host = request.head.authority, origin == "http://\(host)" else {
            throw APIError(status: .forbidden, code: "cross-origin", message: "requests from another origin (\(origin)) are refused")
        }
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
