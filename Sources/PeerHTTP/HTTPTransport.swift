import Foundation
import Synchronization
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
    /// Downloads only: the most bytes the answer may have. A peer that sends more is cut off at
    /// once, before the excess reaches the disk (`PeerError.Kind.invalidResponse`).
    public var maxResponseBytes: Int64?

    public init(method: String = "GET", url: URL, headers: [String: String] = [:], body: Data? = nil, timeout: Duration = .seconds(30),
                maxResponseBytes: Int64? = nil) {
        self.maxResponseBytes = maxResponseBytes
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

/// `HTTPTransport` over URLSession (FoundationNetworking on Linux). Downloads stream chunk by
/// chunk into their file and honour task cancellation. A request's `timeout` is URLSession's:
/// how long it may go without receiving anything, so a long download that keeps receiving is
/// never cut off.
public final class URLSessionTransport: HTTPTransport {
    private let session: URLSession
    /// Downloads use their own session: its delegate receives the body, whereas `session`'s
    /// async calls collect small answers in memory.
    private let downloadSession: URLSession
    private let downloads = StreamingDownloads()

    public init() {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        session = URLSession(configuration: configuration)
        downloadSession = URLSession(configuration: configuration, delegate: downloads, delegateQueue: nil)
    }

    deinit {
        session.finishTasksAndInvalidate()
        downloadSession.finishTasksAndInvalidate()
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        // Not `session.data(for:)`: on Linux its cancellation handler cancels the URLSession task
        // synchronously while the Swift task's status lock is held, and the session's queue, about
        // to resume that same task, waits for the lock: both hang (seen when the agent stopped
        // during a relay poll). Here the cancel is handed to another queue.
        let task = PendingTask()
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                    let dataTask = session.dataTask(with: urlRequest(request)) { data, response, error in
                        if let error {
                            continuation.resume(throwing: error)
                        } else {
                            continuation.resume(returning: HTTPResponse(
                                status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data ?? Data()))
                        }
                    }
                    task.start(dataTask)
                }
            } onCancel: {
                task.cancel()
            }
        } catch {
            throw PeerError(request: request, underlying: error)
        }
    }

    public func download(_ request: HTTPRequest, to file: URL, received: @escaping @Sendable (Data, Int64) -> Void) async throws -> (status: Int, bytes: Int64) {
        do {
            try? FileManager.default.removeItem(at: file)
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
            }
            let handle = try FileHandle(forWritingTo: file)
            let dataTask = downloadSession.dataTask(with: urlRequest(request))
            let task = PendingTask()
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { completion in
                    downloads.register(dataTask, file: handle, limit: request.maxResponseBytes, received: received, completion: completion)
                    task.start(dataTask)
                }
            } onCancel: {
                task.cancel()  // off this thread, as in `send`
            }
        } catch {
            try? FileManager.default.removeItem(at: file)
            if let tooLarge = error as? ResponseTooLarge {
                throw PeerError(kind: .invalidResponse, method: request.method, url: request.url.absoluteString,
                                detail: "sent more than the \(tooLarge.limit) bytes expected; cut off")
            }
            // A local file problem (disk full, no permission) is not the peer's fault: keep its own error.
            let fromNetwork = error is CancellationError || (error as NSError).domain == NSURLErrorDomain
            throw fromNetwork ? PeerError(request: request, underlying: error) : error
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

/// A URLSession task that a Swift task's cancellation may stop. Cancelling happens on another
/// queue, never inside the cancellation handler (which runs under the Swift task's status lock,
/// see `URLSessionTransport.send`); a cancel that comes before the start stops the task as it starts.
final class PendingTask: Sendable {
    private enum State { case waiting, running(URLSessionTask), cancelled }
    private let state = Mutex<State>(.waiting)

    func start(_ task: URLSessionTask) {
        let cancelled = state.withLock { state -> Bool in
            if case .cancelled = state { return true }
            state = .running(task)
            return false
        }
        if cancelled { task.cancel() }
        task.resume()
    }

    func cancel() {
        let task = state.withLock { state -> URLSessionTask? in
            defer { state = .cancelled }
            if case .running(let task) = state { return task }
            return nil
        }
        guard let task else { return }
        DispatchQueue.global().async { task.cancel() }
    }
}
