import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// A chat client's view of the agent's local API, over its Unix socket (or TCP): each response
/// is checked against the OpenAPI document before the test sees it.
struct APIClient {
    struct Reply {
        var status: Int
        var contentType: String?
        var body: Data
        var json: JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: body) }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    let http: HTTPClient
    /// `http+unix://…` or `http://127.0.0.1:port`.
    let base: String
    let contract: OpenAPIContract
    var token: String?

    init(http: HTTPClient, socketPath: String, contract: OpenAPIContract) {
        self.http = http
        base = URL(httpURLWithSocketPath: socketPath, uri: "/")!.absoluteString.trimmingSuffix("/")
        self.contract = contract
    }

    init(http: HTTPClient, port: Int, contract: OpenAPIContract, token: String?) {
        self.http = http
        base = "http://127.0.0.1:\(port)"
        self.contract = contract
        self.token = token
    }

    func request(_ method: HTTPMethod, _ path: String, json: String? = nil, headers: [(String, String)] = [],
                 sourceLocation: SourceLocation = #_sourceLocation) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        let reply = Reply(status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type"),
                          body: Data(body.readableBytesView))
        let problems = contract.problems(method: method.rawValue, path: path, status: reply.status, contentType: reply.contentType, body: reply.body)
        #expect(problems.isEmpty, "\(problems) in \(reply.text)", sourceLocation: sourceLocation)
        return reply
    }

    /// The event stream: each event (its id, name and JSON) as it arrives, until `stop` or the agent stops.
    func events(lastEventID: String? = nil) async throws -> AsyncThrowingStream<(id: String?, name: String, data: JSONValue?), any Error> {
        var request = HTTPClientRequest(url: base + "/v1/events")
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await http.execute(request, timeout: .seconds(3600))
        #expect(response.status.code == 200)
        #expect(contract.problems(method: "GET", path: "/v1/events", status: 200, contentType: response.headers.first(name: "Content-Type"), body: Data()).isEmpty)
        return AsyncThrowingStream { continuation in
            let task = Task {
                var pending = ""
                var id: String?, name = "message", data: String?
                do {
                    for try await chunk in response.body {
                        pending += String(buffer: chunk)
                        while let newline = pending.firstIndex(of: "\n") {
                            let line = String(pending[..<newline])
                            pending = String(pending[pending.index(after: newline)...])
                            if line.isEmpty {
                                if let data { continuation.yield((id, name, try? JSONDecoder().decode(JSONValue.self, from: Data(data.utf8)))) }
                                (id, name, data) = (nil, "message", nil)
                            } else if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                            else if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                            else if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
