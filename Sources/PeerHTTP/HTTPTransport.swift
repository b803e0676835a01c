import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP request to a peer (a Codex or nwaku node).
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: URL
    public var headers: [String: String]
    public var body: Data?
    /// How long the whole request may take.
    public var timeout: Duration

    public init(method: String = "GET", url: URL, headers: [String: String] = [:], body: Data? = nil, timeout: Duration = .seconds(30)) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: Data

    public init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }
}

/// The small surface the peer clients need from HTTP, so the client code does not depend on
/// one HTTP library (URLSession today; AsyncHTTPClient could stand behind it).
public protocol HTTPTransport: Sendable {
    /// Sends a request and returns the whole (small) answer.
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
    /// Streams the answer's body into a new file at `file` (never into memory) and returns
    /// the status and the number of bytes written. The file is removed again on failure.
    func download(_ request: HTTPRequest, to file: URL) async throws -> (status: Int, bytes: Int64)
}

/// `HTTPTransport` over URLSession (FoundationNetworking on Linux, which streams downloads
/// to disk and honours task cancellation).
public final class URLSessionTransport: HTTPTransport {
    private let session: URLSession

    public init() {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        session = URLSession(configuration: configuration)
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        do {
            let (data, response) = try await session.data(for: urlRequest(request))
            return HTTPResponse(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data)
        } catch {
            throw PeerError(request: request, underlying: error)
        }
    }

    public func download(_ request: HTTPRequest, to file: URL) async throws -> (status: Int, bytes: Int64) {
        do {
            let (temporary, response) = try await session.download(for: urlRequest(request))
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            try? FileManager.default.removeItem(at: file)
            try FileManager.default.moveItem(at: temporary, to: file)
            let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.int64Value ?? 0
            return (status, size)
        } catch {
            try? FileManager.default.removeItem(at: file)
            throw PeerError(request: request, underlying: error)
        }
    }

    private func urlRequest(_ request: HTTPRequest) -> URLRequest {
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method
        urlRequest.httpBody = request.body
        let seconds = Double(request.timeout.components.seconds) + Double(request.timeout.components.attoseconds) / 1e18
        urlRequest.timeoutInterval = seconds
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        return urlRequest
    }
}
