import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `HTTPTransport` over AsyncHTTPClient (SwiftNIO): one connection pool for the process, plain
/// HTTP/1.1 to the local nodes, bodies streamed chunk by chunk with back-pressure.
///
/// Not URLSession: on Linux its libcurl bridge (FoundationNetworking) keeps a socket's write
/// source armed while it waits for a slow answer, so a stalled or trickling download or a long
/// manifest lookup spun a thread at half a core (epoll woke about 8,000 times a second).
///
/// ```swift
/// let codex = CodexClient(baseURL: url, transport: AsyncHTTPClientTransport())
/// ```
///
/// Throws `PeerError` for what the peer did (unreachable, timed out, cancelled, cut off); a
/// local file problem during a download keeps its own error.
public struct AsyncHTTPClientTransport: HTTPTransport {
    /// One client for the process: it is never shut down (a static is never deinitialised),
    /// and its connections are shared by every peer client.
    static let client = HTTPClient(
        eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
        configuration: HTTPClient.Configuration(
            // Local nodes: a refused connection is known at once; 5 s covers a loaded machine.
            timeout: .init(connect: .seconds(5), read: nil),
            // Every community's downloads go to the same node at once (3 each by default): a
            // request queued behind the pool's default 8 connections would count against its
            // own timeout and minimum transfer rate while no byte could come.
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256),
            decompression: .disabled))

    public init() {}

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        do {
            // The client's deadline covers the answer's head only: the whole exchange, body
            // included, must end within the timeout (a node that stalls after its headers).
            return try await withDeadline(request.timeout) {
                let response = try await Self.client.execute(try clientRequest(request), timeout: TimeAmount(request.timeout))
                // The answers this client sends are small (JSON, a CID); a peer cannot make it hold more.
                let body = try await response.body.collect(upTo: 64 << 20)
                return HTTPResponse(status: Int(response.status.code), body: Data(body.readableBytesView))
            }
        } catch is DeadlinePassed {
            throw PeerError(kind: .timedOut, method: request.method, url: request.url.absoluteString, detail: "no whole answer within \(request.timeout)")
        } catch {
            throw PeerError(request: request, underlying: error)
        }
    }

    public func download(_ request: HTTPRequest, to file: URL, received: @escaping @Sendable (Data, Int64) -> Void) async throws -> (status: Int, bytes: Int64) {
        let handle: FileHandle
        do {
            try? FileManager.default.removeItem(at: file)
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
            }
            handle = try FileHandle(forWritingTo: file)
        }
        let counter = TransferCounter()
        let answered = TransferCounter()  // 1 once the answer's head is in
        do {
            defer { try? handle.close() }
            // The body may not go `timeout` without a byte: a watchdog, since the pool's read
            // timeout would also cut a manifest lookup that is still working.
            return try await withProgressWatchdog(every: request.timeout, minimumBytes: 1, counter: counter) {
                let response = try await Self.client.execute(try clientRequest(request), timeout: TimeAmount(request.timeout))
                answered.set(1)
                var written: Int64 = 0
                for try await chunk in response.body {
                    if let limit = request.maxResponseBytes, written + Int64(chunk.readableBytes) > limit {
                        // More than the peer promised: nothing of the excess is written.
                        throw ResponseTooLarge(limit: limit)
                    }
                    // A cap paces the stream here, chunk by chunk: the next is not read until it may be.
                    try await request.pacer?.pace(chunk.readableBytes)
                    let data = Data(chunk.readableBytesView)
                    try handle.write(contentsOf: data)
                    written += Int64(data.count)
                    counter.set(written)
                    received(data, written)
                }
                return (Int(response.status.code), written)
            }
        } catch {
            try? FileManager.default.removeItem(at: file)
            switch error {
            case let tooLarge as ResponseTooLarge:
                throw PeerError(kind: .invalidResponse, method: request.method, url: request.url.absoluteString,
                                detail: "sent more than the \(tooLarge.limit) bytes expected; cut off")
            case let stalled as TransferStalled:
                throw PeerError(kind: .timedOut, method: request.method, url: request.url.absoluteString,
                                detail: "no byte for \(stalled.window)")
            case is CancellationError:
                throw PeerError(request: request, underlying: error)
            case let error as HTTPClientError where error == .cancelled:
                throw PeerError(request: request, underlying: error)
            case _ where (error as NSError).domain == NSPOSIXErrorDomain || error is CocoaError:
                // A local file problem (disk full, no permission) is not the peer's fault: keep its own error.
                throw error
            case _ where answered.value != 0:
                // After the head the node was there: its answer broke off (a cut connection, a
                // body shorter than its Content-Length).
                throw PeerError(kind: .interrupted, method: request.method, url: request.url.absoluteString, detail: "\(error)")
            default:
                throw PeerError(request: request, underlying: error)
            }
        }
    }

    private func clientRequest(_ request: HTTPRequest) throws -> HTTPClientRequest {
        var outgoing = HTTPClientRequest(url: request.url.absoluteString)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body {
            outgoing.body = .bytes(ByteBuffer(bytes: body))
            outgoing.headers.replaceOrAdd(name: "Content-Length", value: "\(body.count)")
        }
        return outgoing
    }
}

extension PeerError {
    /// Classifies what AsyncHTTPClient and SwiftNIO threw, by type.
    init(request: HTTPRequest, underlying: any Error) {
        let kind: Kind
        let detail: String
        switch underlying {
        case is CancellationError:
            (kind, detail) = (.cancelled, "cancelled")
        case let error as HTTPClientError where error == .cancelled:
            (kind, detail) = (.cancelled, "cancelled")
        case let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout:
            (kind, detail) = (.timedOut, "no answer within \(request.timeout)")
        case let error as HTTPClientError where error == .connectTimeout:
            (kind, detail) = (.unreachable, "no connection within 5 s")
        case let error as NIOConnectionError:
            // Every address refused or failed: the node is down or the URL is wrong.
            (kind, detail) = (.unreachable, error.connectionErrors.first.map { "\($0.error)" } ?? "\(error)")
        default:
            (kind, detail) = (.unreachable, "\(underlying)")
        }
        self.init(kind: kind, method: request.method, url: request.url.absoluteString, detail: detail)
    }
}

/// A download answer longer than `HTTPRequest.maxResponseBytes`.
struct ResponseTooLarge: Error {
    let limit: Int64
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
