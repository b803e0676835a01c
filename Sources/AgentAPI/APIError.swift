import Foundation
import HTTPTypes
import Hummingbird

/// A refused request, as JSON: `{"schemaVersion": 1, "error": {"code", "message", "retryable"}}`
/// with its HTTP status. `code` is what a client decides on (never the message); `retryable`
/// says whether the same request may succeed later.
struct APIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var retryable: Bool = false

    static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, code: "bad-request", message: message) }
    static func notFound(_ message: String) -> APIError { APIError(status: .notFound, code: "not-found", message: message) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try JSONResponse(APIErrorBody(code: code, message: message, retryable: retryable), status: status)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }
}

/// A JSON response with `body` encoded as the API encodes everything (sorted keys, so that equal
/// answers are equal bytes).
func JSONResponse(_ body: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(body)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

extension HTTPField.Name {
    /// What a reconnecting Server-Sent Events client sends: the last event ID it saw.
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}
