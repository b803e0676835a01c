import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A request as the demo servers see it.
public struct LoopbackRequest: Sendable {
    public var method: String
    /// Percent-decoded path segments (`/api/codex/v1/data/x` → `["api", "codex", "v1", "data", "x"]`).
    public var pathSegments: [String]
    public var query: [String: String]
    /// Header fields by lower-cased name (the last one wins when a name repeats).
    public var headers: [String: String] = [:]
    public var body: Data

    public init(method: String, pathSegments: [String], query: [String: String], headers: [String: String] = [:], body: Data) {
        self.method = method
        self.pathSegments = pathSegments
        self.query = query
        self.headers = headers
        self.body = body
    }
}

public struct LoopbackResponse: Sendable {
    public enum Body: Sendable {
        case data(Data)
        /// Streamed from disk in chunks, never loaded whole.
        case file(URL, truncatedTo: Int? = nil)
        /// Streamed from disk slowly: `pacing` says how many bytes go out how often, and
        /// whether the stream stops sending (keeping the connection open) after some bytes.
        case pacedFile(URL, BodyPacing)
    }

    public var status: Int
    public var contentType: String
    public var body: Body

    public init(status: Int, contentType: String = "application/octet-stream", body: Body = .data(Data())) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    public static func json<T: Encodable>(_ value: T, status: Int = 200) -> LoopbackResponse {
        LoopbackResponse(status: status, contentType: "application/json", body: .data((try? JSONEncoder().encode(value)) ?? Data()))
    }

    public static func text(_ text: String, status: Int = 200) -> LoopbackResponse {
        LoopbackResponse(status: status, contentType: "text/plain", body: .data(Data(text.utf8)))
    }
}

/// How a `LoopbackResponse.Body.pacedFile` goes out.
public struct BodyPacing: Sendable, Equatable {
    /// Bytes per write, and the pause after each.
    public var chunkBytes: Int
    public var interval: Duration
    /// After this many bytes, nothing more is sent until the client or the server closes.
    public var stallAfter: Int?

    public init(chunkBytes: Int, interval: Duration, stallAfter: Int? = nil) {
        self.chunkBytes = max(1, chunkBytes)
        self.interval = interval
        self.stallAfter = stallAfter
    }
}

/// A small HTTP/1.1 server on 127.0.0.1 (SwiftNIO), used by the demo network and the tests:
/// real sockets, real HTTP, so the clients under test are the production ones.
///
/// ```swift
/// let server = try await LoopbackHTTPServer.start { request in .text("hello") }
/// // http://127.0.0.1:\(server.port)/
/// await server.stop()
/// ```
public final class LoopbackHTTPServer: Sendable {
    public typealias Handler = @Sendable (LoopbackRequest) async -> LoopbackResponse
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    public let port: Int
    private let serverChannel: any Channel
    private let acceptLoop: Task<Void, Never>

    private init(port: Int, serverChannel: any Channel, acceptLoop: Task<Void, Never>) {
        self.port = port
        self.serverChannel = serverChannel
        self.acceptLoop = acceptLoop
    }

    /// Binds `127.0.0.1:port` (0 picks a free port) and serves until `stop()`.
    /// Throws `LoopbackServerError.portInUse` when another process holds the port.
    public static func start(port: Int = 0, handler: @escaping Handler) async throws -> LoopbackHTTPServer {
        let server: NIOAsyncChannel<Connection, Never>
        do {
            server = try await bind(port: port)
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw LoopbackServerError.portInUse(port)
        }
        return start(server, port: port, handler: handler)
    }

    private static func bind(port: Int) async throws -> NIOAsyncChannel<Connection, Never> {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
    }

    private static func start(_ server: NIOAsyncChannel<Connection, Never>, port: Int, handler: @escaping Handler) -> LoopbackHTTPServer {
        let boundPort = server.channel.localAddress?.port ?? port
        let channel = server.channel
        // Requests are served on the server's own threads, not the shared cooperative pool: a
        // process busy with synchronous work (a large import, a test suite running in parallel)
        // must not leave a peer unanswered until its clients time out.
        let loop = Task<Void, Never>(executorPreference: ServerExecutor.shared) {
            _ = try? await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await serve(connection, handler: handler) }
                    }
                }
            }
        }
        return LoopbackHTTPServer(port: boundPort, serverChannel: channel, acceptLoop: loop)
    }

    public var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// Stops listening and drops open connections.
    public func stop() async {
        try? await serverChannel.close()
        acceptLoop.cancel()
        await acceptLoop.value
    }

    private static func serve(_ connection: Connection, handler: Handler) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.clear()
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                case .end:
                    guard let requestHead = head else { continue }
                    let response = await handler(request(requestHead, body: body))
                    try await write(response, keepAlive: requestHead.isKeepAlive, to: outbound)
                    if !requestHead.isKeepAlive { return }
                }
            }
        }
    }

    private static func request(_ head: HTTPRequestHead, body: ByteBuffer) -> LoopbackRequest {
        let components = URLComponents(string: "http://localhost" + head.uri)
        let rawPath = components?.percentEncodedPath ?? head.uri
        let segments = rawPath.split(separator: "/").map { $0.removingPercentEncoding ?? String($0) }
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        var headers: [String: String] = [:]
        for (name, value) in head.headers { headers[name.lowercased()] = value }
        return LoopbackRequest(method: head.method.rawValue, pathSegments: segments, query: query, headers: headers,
                               body: Data(body.readableBytesView))
    }

    private static func write(_ response: LoopbackResponse, keepAlive: Bool, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        switch response.body {
        case .data(let data):
            headers.add(name: "Content-Length", value: "\(data.count)")
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: response.status), headers: headers)))
            if !data.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: data)))) }
        case .file(let url, let truncatedTo):
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
            let length = min(size, truncatedTo ?? size)
            // A truncated body announces the full length: the client sees a connection cut short.
            headers.add(name: "Content-Length", value: "\(size)")
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: response.status), headers: headers)))
            let file = try FileHandle(forReadingFrom: url)
            defer { try? file.close() }
            var sent = 0
            while sent < length, let chunk = try file.read(upToCount: min(64 * 1024, length - sent)), !chunk.isEmpty {
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk))))
                sent += chunk.count
            }
            if length < size { throw CancellationError() }
        case .pacedFile(let url, let pacing):
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
            headers.add(name: "Content-Length", value: "\(size)")
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: response.status), headers: headers)))
            let file = try FileHandle(forReadingFrom: url)
            defer { try? file.close() }
            var sent = 0
            while sent < size {
                if let stall = pacing.stallAfter, sent >= stall {
                    // Headers and part of the body are out; the rest never comes. Ends when the
                    // client hangs up (the write fails) or the server stops (cancellation).
                    while true { try await Task.sleep(for: .seconds(3600)) }
                }
                let room = min(pacing.chunkBytes, size - sent, (pacing.stallAfter ?? Int.max) - sent)
                guard let chunk = try file.read(upToCount: room), !chunk.isEmpty else { break }
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk))))
                sent += chunk.count
                try await Task.sleep(for: pacing.interval)
            }
        }
        try await outbound.write(.end(nil))
    }
}

/// Why a loopback server could not start.
public enum LoopbackServerError: Error, Equatable, CustomStringConvertible {
    case portInUse(Int)

    public var description: String {
        switch self {
        case .portInUse(let port): return "port \(port) on 127.0.0.1 is already in use by another program; choose another port"
        }
    }
}

/// A task executor on a concurrent dispatch queue of its own, preferred by the servers' tasks
/// (SE-0417): their handlers, and the default actors they call, run there.
final class ServerExecutor: TaskExecutor, Sendable {
    static let shared = ServerExecutor()
    private let queue = DispatchQueue(label: "community-history.loopback-server", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
