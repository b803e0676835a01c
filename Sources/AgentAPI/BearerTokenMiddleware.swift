import Crypto
import Foundation
import GroupKeys
import Hummingbird

/// Refuses a request without `Authorization: Bearer <token>` (401), for the API's TCP listener:
/// any local user can reach 127.0.0.1, only the agent's user can read the cookie file that
/// holds the token (as bitcoind's `.cookie`). The Unix socket needs none: its mode is 0600.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The scheme's name is case-insensitive (RFC 9110, 11.1); the token is not.
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer "),
              Self.equalInConstantTime(String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces), token) else {
            throw APIError(status: .unauthorized, code: "unauthorized",
                           message: "send Authorization: Bearer <the token in the agent's cookie file>")
        }
        return try await next(request, context)
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
