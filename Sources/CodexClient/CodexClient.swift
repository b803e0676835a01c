import Foundation
import PeerHTTP
import StatusWire

/// A client of a Codex node's REST API (`/api/codex/v1`).
///
/// Downloads stream to a temporary file beside the destination and are renamed only once
/// complete and checked (the node's manifest names the same CID, and the byte count equals
/// its `datasetSize`), so a half-downloaded archive never looks like a whole one. Every
/// request has a timeout; retryable failures (node down, 5xx) are retried with backoff.
///
/// ```swift
/// let codex = CodexClient(baseURL: URL(string: "http://127.0.0.1:8080")!)
/// let bytes = try await codex.download(cid, to: archivesDirectory.appendingPathComponent(cid.string))
/// ```
public struct CodexClient: Sendable {
    public let baseURL: URL
    public var transport: any HTTPTransport
    public var retry: RetryPolicy
    /// Timeout of small requests (manifest, exists, delete).
    public var requestTimeout: Duration
    /// How long a download may go without receiving a byte (a long download that keeps
    /// receiving is never cut off).
    public var downloadTimeout: Duration

    public init(baseURL: URL, transport: any HTTPTransport = URLSessionTransport(), retry: RetryPolicy = .default,
                requestTimeout: Duration = .seconds(30), downloadTimeout: Duration = .seconds(120)) {
        self.baseURL = baseURL
        self.transport = transport
        self.retry = retry
        self.requestTimeout = requestTimeout
        self.downloadTimeout = downloadTimeout
    }

    /// `GET /data/{cid}/network/manifest`; the answer must name the CID asked for.
    public func manifest(_ cid: CID) async throws -> CodexDataItem {
        let item = try await retry.run {
            let body = try await send("GET", path: "data/\(cid)/network/manifest")
            return try decode(CodexDataItem.self, from: body, context: "manifest of \(cid)")
        }
        guard item.cid == cid.string else { throw CodexError.manifestMismatch(asked: cid.string, answered: item.cid) }
        return item
    }

    /// Fetches `cid` from the network (`GET /data/{cid}/network/stream`) into `destination`.
    /// Returns the number of bytes.
    @discardableResult
    public func download(_ cid: CID, to destination: URL) async throws -> Int64 {
        try await download(cid, to: destination, manifest: try await manifest(cid))
    }

    /// Like `download(_:to:)` with a manifest fetched before (e.g. to check disk space first).
    /// `progress` is called with the bytes received so far as they arrive (from 0 again when a
    /// failed attempt is retried).
    @discardableResult
    public func download(_ cid: CID, to destination: URL, manifest: CodexDataItem,
                         progress: @escaping @Sendable (Int64) -> Void = { _ in }) async throws -> Int64 {
        try await downloadChecked(cid, path: "data/\(cid)/network/stream", to: destination,
                                  expectedBytes: manifest.manifest.datasetSize, progress: progress)
    }

    /// `POST /data/{cid}/network`: asks the node to fetch the dataset in the background;
    /// returns its manifest (status-go's way; then poll `exists` and read locally).
    public func fetchInBackground(_ cid: CID) async throws -> CodexDataItem {
        try await retry.run {
            let body = try await send("POST", path: "data/\(cid)/network")
            return try decode(CodexDataItem.self, from: body, context: "network fetch of \(cid)")
        }
    }

    /// `GET /data/{cid}/exists`: whether the node holds the whole dataset locally.
    public func exists(_ cid: CID) async throws -> Bool {
        try await retry.run {
            let body = try await send("GET", path: "data/\(cid)/exists")
            // The node answers {"<cid>": bool}; openapi.yaml documents {"has": bool}.
            guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                  let value = (object[cid.string] ?? object["has"]) as? Bool
            else { throw CodexError.unexpectedAnswer("exists of \(cid): \(String(decoding: body.prefix(200), as: UTF8.self))") }
            return value
        }
    }

    /// Polls `exists` until the node holds `cid`, or throws after `timeout`.
    public func waitUntilStored(_ cid: CID, pollEvery interval: Duration = .seconds(1), timeout: Duration = .seconds(60)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while try await !exists(cid) {
            guard clock.now < deadline else { throw CodexError.notStoredInTime(cid: cid.string, timeout: timeout) }
            try await Task.sleep(for: interval)
        }
    }

    /// Reads a dataset the node holds locally (`GET /data/{cid}`) into `destination`.
    @discardableResult
    public func downloadLocal(_ cid: CID, to destination: URL, expectedBytes: Int64? = nil) async throws -> Int64 {
        try await downloadChecked(cid, path: "data/\(cid)", to: destination, expectedBytes: expectedBytes, progress: { _ in })
    }

    /// `POST /data`: stores `data` on the node; returns its CID.
    public func upload(_ data: Data, filename: String = "archive-data.bin") async throws -> CID {
        try await retry.run {
            let body = try await send("POST", path: "data", body: data, headers: [
                "Content-Type": "application/octet-stream",
                "Content-Disposition": "attachment; filename=\"\(filename)\"",
            ])
            let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            do { return try CID(text) } catch { throw CodexError.unexpectedAnswer("upload answered \"\(text.prefix(100))\", not a CID") }
        }
    }

    /// `DELETE /data/{cid}`.
    public func delete(_ cid: CID) async throws {
        _ = try await retry.run { try await send("DELETE", path: "data/\(cid)") }
    }

    // MARK: - Plumbing

    func url(_ path: String) -> URL {
        baseURL.appendingPathComponent("api/codex/v1").appendingPathComponent(path)
    }

    private func send(_ method: String, path: String, body: Data? = nil, headers: [String: String] = [:]) async throws -> Data {
        let request = HTTPRequest(method: method, url: url(path), headers: headers, body: body, timeout: requestTimeout)
        let response = try await transport.send(request)
        guard (200..<300).contains(response.status) else {
            throw PeerError(kind: .status(response.status), method: method, url: request.url.absoluteString,
                            detail: String(decoding: response.body.prefix(200), as: UTF8.self))
        }
        return response.body
    }

    private func downloadChecked(_ cid: CID, path: String, to destination: URL, expectedBytes: Int64?,
                                 progress: @escaping @Sendable (Int64) -> Void) async throws -> Int64 {
        let partial = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).partial")
        let request = HTTPRequest(url: url(path), timeout: downloadTimeout)
        let bytes = try await retry.run {
            let (status, bytes) = try await transport.download(request, to: partial, progress: progress)
            guard (200..<300).contains(status) else {
                try? FileManager.default.removeItem(at: partial)
                throw PeerError(kind: .status(status), method: "GET", url: request.url.absoluteString, detail: "")
            }
            return bytes
        }
        if let expectedBytes, bytes != expectedBytes {
            try? FileManager.default.removeItem(at: partial)
            throw CodexError.sizeMismatch(cid: cid.string, expected: expectedBytes, received: bytes)
        }
        try? FileManager.default.removeItem(at: destination)
        try FileManager.default.moveItem(at: partial, to: destination)
        return bytes
    }

    private func decode<T: Decodable>(_ type: T.Type, from body: Data, context: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: body) } catch {
            throw CodexError.unexpectedAnswer("\(context): \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
    }
}

public enum CodexError: Error, Equatable, CustomStringConvertible {
    case manifestMismatch(asked: String, answered: String)
    case sizeMismatch(cid: String, expected: Int64, received: Int64)
    case notStoredInTime(cid: String, timeout: Duration)
    case unexpectedAnswer(String)

    public var description: String {
        switch self {
        case .manifestMismatch(let asked, let answered):
            return "the Codex node answered the manifest of \(answered) when asked for \(asked)"
        case .sizeMismatch(let cid, let expected, let received):
            return "downloaded \(received) bytes of \(cid), its manifest says \(expected); the partial file was discarded"
        case .notStoredInTime(let cid, let timeout):
            return "the Codex node did not finish fetching \(cid) within \(timeout)"
        case .unexpectedAnswer(let what):
            return "unexpected answer from the Codex node: \(what)"
        }
    }
}
