import Foundation

/// One HTTP request to a peer (a Codex or nwaku node).
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: URL
    public var headers: [String: String]
    public var body: Data?
    /// How long the peer may take to answer (its status line and headers); for downloads also
    /// the longest the body may go without a byte.
    public var timeout: Duration
    /// Downloads only: the most bytes the answer may have. A peer that sends more is cut off at
    /// once, before the excess reaches the disk (`PeerError.Kind.invalidResponse`).
    public var maxResponseBytes: Int64?
    /// Downloads only: asked before each chunk of the body is taken, and may wait (a bandwidth
    /// cap). While it waits the body is not read, so the peer is slowed by TCP itself.
    public var pacer: (any TransferPacer)?

    public init(method: String = "GET", url: URL, headers: [String: String] = [:], body: Data? = nil, timeout: Duration = .seconds(30),
                maxResponseBytes: Int64? = nil, pacer: (any TransferPacer)? = nil) {
        self.maxResponseBytes = maxResponseBytes
        self.pacer = pacer
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// Paces a stream: `pace` is told each chunk's size as it arrives and returns when the next
/// may be read (`BandwidthLimiter` keeps a download cap this way, chunk by chunk).
public protocol TransferPacer: Sendable {
    func pace(_ bytes: Int) async throws
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
/// one HTTP library (AsyncHTTPClient today, `AsyncHTTPClientTransport`; tests wrap it to inject faults).
public protocol HTTPTransport: Sendable {
    /// Sends a request and returns the whole (small) answer.
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
    /// Streams the answer's body into a new file at `file` (never into memory), handing each
    /// chunk to `received` as it is written, with the bytes written so far (so a caller can hash
    /// or count what arrives without reading the file again), and returns the status and the
    /// number of bytes written. Chunks arrive in order, one at a time. The file is removed again
    /// on failure.
    func download(_ request: HTTPRequest, to file: URL, received: @escaping @Sendable (Data, Int64) -> Void) async throws -> (status: Int, bytes: Int64)
}

extension HTTPTransport {
    public func download(_ request: HTTPRequest, to file: URL) async throws -> (status: Int, bytes: Int64) {
        try await download(request, to: file, received: { _, _ in })
    }
}
