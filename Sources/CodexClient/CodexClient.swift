import Foundation
import PeerHTTP
import StatusWire
import Synchronization

/// A client of a storage node's REST API: Logos Storage (`/api/storage/v1`, 2026) or Codex, as
/// it was called before (`/api/codex/v1`).
///
/// The API's prefix is found once by probing `/debug/info` under each (`StorageAPIPrefix`),
/// unless the URL given names it, and remembered by every copy of the client. A node that
/// answers under neither is `CodexError.notAStorageAPI`, never "not found on the network".
///
/// Every download is verified end to end while it streams: the bytes are hashed the way a
/// storage node addresses them (64 KiB blocks, Merkle tree, manifest; `CodexDatasetHasher`) with
/// the block size, filename and mimetype of the node's manifest JSON, and the CID asked for must
/// be the manifest CID in one of the layouts nodes have written (`CodexManifestLayout`). Only then
/// is the temporary file beside the destination renamed, so a half-downloaded or wrong archive
/// never looks like a whole one, whatever the node sends. Every request has a timeout;
/// retryable failures (node down, 5xx) are retried with backoff.
///
/// ```swift
/// let codex = CodexClient(baseURL: URL(string: "http://127.0.0.1:8080")!)
/// let bytes = try await codex.download(cid, to: archivesDirectory.appendingPathComponent(cid.string))
/// ```
///
/// Throws `PeerError` when the node cannot be reached or answers an HTTP error, and
/// `CodexError` when it answers something this client must not accept (wrong bytes, a
/// manifest of another CID, a CID not found on the network); `CodexError.isRetryable` says
/// whether asking again later may help.
public struct CodexClient: Sendable {
    /// The node's root (without the API prefix).
    public let baseURL: URL
    /// The API prefix the user named (in the URL or a setting); nil: probe for it.
    public let pinnedPrefix: StorageAPIPrefix?
    let profile = StorageNodeProfile()
    public var transport: any HTTPTransport
    public var retry: RetryPolicy
    /// Timeout of small requests (exists, delete, upload).
    public var requestTimeout: Duration
    /// How long a manifest request may wait. A real node looks a CID up on the network before it
    /// answers (block discovery retries for a long time, nim-codex
    /// `blockexchange/engine/pendingblocks.nim:36-37`), so a cold lookup needs minutes, not seconds.
    public var manifestTimeout: Duration
    /// How long a download may go without receiving a byte (a long download that keeps
    /// receiving is never cut off).
    public var downloadTimeout: Duration
    /// The slowest a download may go before it fails with `CodexError.tooSlow` (nil: no limit).
    public var minimumTransferRate: MinimumTransferRate?
    /// Paces the transfer-rate watchdog.
    public var clock: any Clock<Duration>

    /// `apiPrefix` pins the API (no probe); so does a `baseURL` that ends in one.
    public init(baseURL: URL, apiPrefix: StorageAPIPrefix? = nil, transport: any HTTPTransport = AsyncHTTPClientTransport(),
                retry: RetryPolicy = .default,
                requestTimeout: Duration = .seconds(30), manifestTimeout: Duration = .seconds(120),
                downloadTimeout: Duration = .seconds(120), minimumTransferRate: MinimumTransferRate? = .default,
                clock: any Clock<Duration> = ContinuousClock()) {
        self.minimumTransferRate = minimumTransferRate
        self.clock = clock
        let (node, written) = StorageAPIPrefix.split(baseURL)
        self.baseURL = node
        self.pinnedPrefix = apiPrefix ?? written
        self.transport = transport
        self.retry = retry
        self.requestTimeout = requestTimeout
        self.manifestTimeout = manifestTimeout
        self.downloadTimeout = downloadTimeout
    }

    /// The node's base URL from what a user may give (`StorageAPIPrefix.split`).
    public static func nodeURL(_ url: URL) -> URL { StorageAPIPrefix.split(url).node }

    /// The manifest layout of the last dataset this client (or a copy, perhaps another
    /// community's) verified: the node generation that wrote its CID. Nil before the first
    /// verified download. `downloadReportingLayout` tells it for one download.
    public var lastVerifiedLayout: CodexManifestLayout? { profile.layout }

    /// The node's API prefix: the one pinned, the one found before, or found now by asking
    /// `/debug/info` under each prefix (`StorageAPIPrefix.probeOrder`). A prefix answers when
    /// `/debug/info` is 200 with a JSON object; a router's 404 (nim-presto answers a path it
    /// has no route for with a bare 404) moves on to the next. Throws `PeerError` when the node
    /// cannot be reached, `CodexError.notAStorageAPI` when it answers under neither prefix.
    public func apiPrefix() async throws -> StorageAPIPrefix {
        if let pinnedPrefix { return pinnedPrefix }
        if let known = profile.prefix { return known }
        var answers: [String] = []
        for prefix in StorageAPIPrefix.probeOrder {
            let probe = try await probe(prefix)
            if probe.answers {
                profile.found(prefix)
                return prefix
            }
            // A 5xx is the node's trouble, not a missing route: say so as a peer failure (retried).
            if probe.response.status >= 500 {
                throw PeerError(kind: .status(probe.response.status), method: "GET", url: probe.url.absoluteString,
                                detail: String(decoding: probe.response.body.prefix(200), as: UTF8.self))
            }
            answers.append("\(prefix)/debug/info: \(probe.response.status)")
        }
        throw CodexError.notAStorageAPI(node: baseURL.absoluteString, answers: answers)
    }

    /// `GET <prefix>/debug/info`: it `answers` when it is 200 with a JSON object.
    private func probe(_ prefix: StorageAPIPrefix) async throws -> (answers: Bool, response: HTTPResponse, url: URL) {
        let request = HTTPRequest(method: "GET", url: url("debug/info", prefix: prefix), headers: [:], body: nil, timeout: requestTimeout)
        let response = try await transport.send(request)
        let answers = (200..<300).contains(response.status) && (try? JSONSerialization.jsonObject(with: response.body)) is [String: Any]
        return (answers, response, request.url)
    }

    /// The prefix found by probing, if any (for `doctor`).
    public var discoveredPrefix: StorageAPIPrefix? { pinnedPrefix ?? profile.prefix }

    /// `GET /data/{cid}/network/manifest`; the answer must name the CID asked for and be a
    /// plain (not erasure-coded) dataset, the only kind whose bytes can be checked here.
    public func manifest(_ cid: CID) async throws -> CodexDataItem {
        let started = ContinuousClock.now
        let item: CodexDataItem
        do {
            // A node that is down or overloaded is asked again; one that looked and found
            // nothing is not: it has just spent up to `manifestTimeout` looking.
            item = try await retry.run(retryIf: { $0.isRetryable && $0.kind != .timedOut }) {
                let body = try await send("GET", path: "data/\(cid)/network/manifest", timeout: manifestTimeout)
                return try decode(CodexDataItem.self, from: body, context: "manifest of \(cid)")
            }
        } catch let error as PeerError where error.kind == .status(404) || error.kind == .timedOut {
            // A real node answers 404 only after its network lookup gave up, which takes hours
            // (C9 in real-peers.md); usually the wait runs out first. Either way: not found yet.
            throw CodexError.notFound(cid: cid.string, node: baseURL.absoluteString, lookedFor: ContinuousClock.now - started)
        }
        guard item.cid == cid.string else { throw CodexError.manifestMismatch(asked: cid.string, answered: item.cid) }
        if item.manifest.protected == true { throw CodexError.protectedDataset(cid: cid.string, node: baseURL.absoluteString) }
        return item
    }

    /// Fetches `cid` from the network (`GET /data/{cid}/network/stream`) into `destination`,
    /// verified against `cid`. Returns the number of bytes.
    @discardableResult
    public func download(_ cid: CID, to destination: URL) async throws -> Int64 {
        try await download(cid, to: destination, manifest: try await manifest(cid))
    }

    /// Like `download(_:to:)` with a manifest fetched before (e.g. to check disk space first).
    /// `progress` is called with the bytes received so far as they arrive (from 0 again when a
    /// failed attempt is retried). `pacer`, when given, paces the stream chunk by chunk (a
    /// bandwidth cap).
    @discardableResult
    public func download(_ cid: CID, to destination: URL, manifest: CodexDataItem, pacer: (any TransferPacer)? = nil,
                         progress: @escaping @Sendable (Int64) -> Void = { _ in }) async throws -> Int64 {
        try await downloadVerified(cid, path: "data/\(cid)/network/stream", to: destination, manifest: manifest, pacer: pacer,
                                   progress: progress).bytes
    }

    /// `download(_:to:manifest:)`, answering also the manifest layout the CID was verified in:
    /// which storage node generation wrote it.
    public func downloadReportingLayout(_ cid: CID, to destination: URL, manifest: CodexDataItem) async throws -> CodexDownload {
        try await downloadVerified(cid, path: "data/\(cid)/network/stream", to: destination, manifest: manifest, pacer: nil, progress: { _ in })
    }

    /// `POST /data/{cid}/network`: asks the node to fetch the dataset in the background;
    /// returns its manifest (status-go's way; then poll `exists` and read locally).
    public func fetchInBackground(_ cid: CID) async throws -> CodexDataItem {
        try await retry.run {
            let body = try await send("POST", path: "data/\(cid)/network")
            return try decode(CodexDataItem.self, from: body, context: "network fetch of \(cid)")
        }
    }

    /// `GET /data/{cid}/exists`: whether the node holds the CID's own block locally. For a
    /// dataset that is the manifest block, which is local as soon as a network fetch has begun,
    /// long before the data is (nim-codex `node.nim:938-943`): it does not mean "downloaded".
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

    /// Polls `exists` until the node holds `cid`'s manifest block, or throws after `timeout`.
    /// The data may still be arriving: read it with `downloadLocal`, which verifies it.
    public func waitUntilStored(_ cid: CID, pollEvery interval: Duration = .seconds(1), timeout: Duration = .seconds(60)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while try await !exists(cid) {
            guard clock.now < deadline else { throw CodexError.notStoredInTime(cid: cid.string, timeout: timeout) }
            try await Task.sleep(for: interval)
        }
    }

    /// Reads a dataset the node holds locally (`GET /data/{cid}`) into `destination`, verified
    /// against `cid` like a network download.
    @discardableResult
    public func downloadLocal(_ cid: CID, to destination: URL, manifest: CodexDataItem) async throws -> Int64 {
        try await downloadVerified(cid, path: "data/\(cid)", to: destination, manifest: manifest, pacer: nil, progress: { _ in }).bytes
    }

    /// `POST /data`: stores `data` on the node under `attributes` (filename and mimetype, which
    /// are part of the manifest and so of the CID); returns the CID the node answers.
    public func upload(_ data: Data, attributes: CodexUploadAttributes = .statusArchive) async throws -> CID {
        var headers: [String: String] = [:]
        if let mimetype = attributes.mimetype { headers["Content-Type"] = mimetype }
        if let filename = attributes.filename { headers["Content-Disposition"] = "attachment; filename=\"\(filename)\"" }
        return try await retry.run {
            let body = try await send("POST", path: "data", body: data, headers: headers)
            let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            do { return try CID(text) } catch { throw CodexError.unexpectedAnswer("upload answered \"\(text.prefix(100))\", not a CID") }
        }
    }

    /// `GET /debug/info`: the node's identity, addresses, version and routing table.
    public func debugInfo() async throws -> CodexNodeInfo {
        try await retry.run {
            try decode(CodexNodeInfo.self, from: try await send("GET", path: "debug/info"), context: "debug/info")
        }
    }

    /// `GET /space`: the node's storage quota and use.
    public func space() async throws -> CodexSpace {
        try await retry.run {
            try decode(CodexSpace.self, from: try await send("GET", path: "space"), context: "space")
        }
    }

    /// `DELETE /data/{cid}`.
    public func delete(_ cid: CID) async throws {
        _ = try await retry.run { try await send("DELETE", path: "data/\(cid)") }
    }

    // MARK: - Plumbing

    func url(_ path: String, prefix: StorageAPIPrefix) -> URL {
        baseURL.appendingPathComponent(String(prefix.rawValue.dropFirst())).appendingPathComponent(path)
    }

    private func send(_ method: String, path: String, body: Data? = nil, headers: [String: String] = [:],
                      timeout: Duration? = nil) async throws -> Data {
        var prefix = try await apiPrefix()
        var request = HTTPRequest(method: method, url: url(path, prefix: prefix), headers: headers, body: body, timeout: timeout ?? requestTimeout)
        var response = try await transport.send(request)
        if response.status == 404, response.body.isEmpty, try await !probe(prefix).answers {
            // A bare 404, and `/debug/info` no longer answers under the prefix: the node was
            // replaced by one of the other generation since the probe, or the pinned prefix is
            // the other generation's. (A bare 404 under a prefix that answers is the node's own,
            // e.g. a manifest not found with an empty message: handled below as any 404.)
            guard pinnedPrefix == nil else {
                throw CodexError.notAStorageAPI(node: baseURL.absoluteString,
                                                answers: ["\(prefix)/debug/info: no answer (the prefix is pinned)"])
            }
            profile.forget(prefix)
            prefix = try await apiPrefix()  // throws notAStorageAPI when neither answers
            request.url = url(path, prefix: prefix)
            response = try await transport.send(request)
        }
        guard (200..<300).contains(response.status) else {
            throw PeerError(kind: .status(response.status), method: method, url: request.url.absoluteString,
                            detail: String(decoding: response.body.prefix(200), as: UTF8.self))
        }
        return response.body
    }

    /// Streams `path` into a temporary file while hashing it as the node addressed it; renames
    /// the file to `destination` only when the byte count and the recomputed CID are right.
    private func downloadVerified(_ cid: CID, path: String, to destination: URL, manifest: CodexDataItem, pacer: (any TransferPacer)?,
                                  progress: @escaping @Sendable (Int64) -> Void) async throws -> CodexDownload {
        let partial = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).partial")
        let expected = manifest.manifest
        // The node is cut off past the size its manifest gave: a stream that does not end cannot fill the disk.
        let request = HTTPRequest(url: url(path, prefix: try await apiPrefix()), timeout: downloadTimeout,
                                  maxResponseBytes: expected.datasetSize, pacer: pacer)
        let blockSize = Int(expected.blockSize ?? Int64(CodexDatasetHasher.defaultBlockSize))
        guard blockSize > 0, blockSize <= 1 << 30 else {
            throw CodexError.unexpectedAnswer("manifest of \(cid) has block size \(blockSize)")
        }
        let (bytes, address) = try await retry.run {
            // A retried attempt starts from byte 0, and so does its hash.
            let hasher = StreamHasher(blockSize: blockSize)
            let counter = TransferCounter()
            let transport = self.transport
            let (status, bytes): (Int, Int64)
            do {
                let transfer: @Sendable () async throws -> (Int, Int64) = {
                    try await transport.download(request, to: partial) { chunk, written in
                        hasher.update(chunk)
                        counter.set(written)
                        progress(written)
                    }
                }
                if let rate = minimumTransferRate {
                    (status, bytes) = try await withProgressWatchdog(every: rate.window, minimumBytes: rate.minimumBytesPerWindow,
                                                                     counter: counter, clock: clock, transfer)
                } else {
                    (status, bytes) = try await transfer()
                }
            } catch let slow as TransferStalled {
                // Not retried here: a node this slow is not faster a second later. The plan retries later.
                throw CodexError.tooSlow(cid: cid.string, node: baseURL.absoluteString, received: slow.received,
                                         window: slow.window, minimumBytesPerSecond: minimumTransferRate?.bytesPerSecond ?? 0)
            }
            guard (200..<300).contains(status) else {
                try? FileManager.default.removeItem(at: partial)
                throw PeerError(kind: .status(status), method: "GET", url: request.url.absoluteString, detail: "")
            }
            return (bytes, hasher.finish(CodexUploadAttributes(filename: expected.filename, mimetype: expected.mimetype)))
        }
        // From here on the partial file goes, whatever happens: renamed into place or removed.
        defer { try? FileManager.default.removeItem(at: partial) }
        guard bytes == expected.datasetSize else {
            throw CodexError.sizeMismatch(cid: cid.string, node: baseURL.absoluteString, expected: expected.datasetSize, received: bytes)
        }
        guard let address else {
            throw CodexError.contentMismatch(cid: cid.string, node: baseURL.absoluteString, computed: nil)
        }
        guard let layout = address.layout(matching: cid) else {
            // The tree is the same in every generation: bytes whose tree is the one the node's
            // manifest names are the dataset, and only its manifest is written in a layout this
            // build does not know (a newer node). Anything else is wrong bytes.
            if expected.treeCid == address.treeCID.string {
                throw CodexError.unknownManifestLayout(cid: cid.string, node: baseURL.absoluteString, treeCID: address.treeCID.string)
            }
            throw CodexError.contentMismatch(cid: cid.string, node: baseURL.absoluteString, computed: address.manifestCID.string)
        }
        profile.verified(layout)
        // On disk before it is named: after a power loss the file is whole or absent, never a
        // truncated file under the archive's name.
        let written = try FileHandle(forWritingTo: partial)
        try written.synchronize()
        try written.close()
        // rename(2) replaces an old file atomically: the destination is never half there.
        guard rename(partial.path, destination.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: destination.path,
                                                           NSUnderlyingErrorKey: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)])
        }
        return CodexDownload(bytes: bytes, layout: layout)
    }

    private func decode<T: Decodable>(_ type: T.Type, from body: Data, context: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: body) } catch {
            throw CodexError.unexpectedAnswer("\(context): \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
    }
}

/// A verified download: its size, and the manifest layout its CID was found in.
public struct CodexDownload: Sendable, Equatable {
    public let bytes: Int64
    public let layout: CodexManifestLayout
}

/// What a Codex node answered that this client does not accept.
public enum CodexError: Error, Equatable, CustomStringConvertible {
    case manifestMismatch(asked: String, answered: String)
    case sizeMismatch(cid: String, node: String, expected: Int64, received: Int64)
    /// The bytes the node streamed do not hash to the CID asked for (`computed` is what they
    /// hash to; nil when there were none). Nothing of them is kept.
    case contentMismatch(cid: String, node: String, computed: String?)
    /// An erasure-coded dataset: its manifest JSON lacks what is needed to recompute the CID.
    case protectedDataset(cid: String, node: String)
    /// The node looked the CID up on the network and did not find it (yet).
    case notFound(cid: String, node: String, lookedFor: Duration)
    case notStoredInTime(cid: String, timeout: Duration)
    /// The download brought `received` bytes in a `window`, under the minimum transfer rate.
    case tooSlow(cid: String, node: String, received: Int64, window: Duration, minimumBytesPerSecond: Int64)
    case unexpectedAnswer(String)
    /// The URL does not lead to a storage node's REST API: `/debug/info` answered under
    /// neither `/api/storage/v1` nor `/api/codex/v1` (`answers` says what each gave). A wrong
    /// address or port, or a node whose REST API is off. Not the archive's fault.
    case notAStorageAPI(node: String, answers: [String])
    /// The bytes are the dataset the node's manifest names (their tree is its `treeCID`), but
    /// the CID asked for is that manifest in no layout this build knows: the community's
    /// control node runs a newer storage node. Upgrading community-history helps; the archive
    /// is not bad and is tried again later.
    case unknownManifestLayout(cid: String, node: String, treeCID: String)

    /// Whether asking again later may succeed: the CID may reach the network, the node (or
    /// another) may serve the right bytes, the node may be fixed or this build upgraded. A
    /// protected dataset stays protected.
    public var isRetryable: Bool {
        switch self {
        case .protectedDataset: return false
        case .manifestMismatch, .sizeMismatch, .contentMismatch, .notFound, .notStoredInTime, .tooSlow, .unexpectedAnswer,
             .notAStorageAPI, .unknownManifestLayout:
            return true
        }
    }

    /// Whether the failure is the node's (its address, its API, its generation) rather than
    /// something about one dataset: every other request to it fails the same way.
    public var isNodeProblem: Bool {
        switch self {
        case .notAStorageAPI: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .manifestMismatch(let asked, let answered):
            return "the storage node answered the manifest of \(answered) when asked for \(asked)"
        case .sizeMismatch(let cid, let node, let expected, let received):
            return "the storage node \(node) sent \(received) bytes of \(cid), its manifest says \(expected); the partial file was discarded"
        case .contentMismatch(let cid, let node, let computed):
            return "the storage node \(node) served bytes that are not \(cid) (they hash to \(computed ?? "nothing")); "
                + "they were discarded and the archive will be downloaded again later"
        case .protectedDataset(let cid, let node):
            return "\(cid) is an erasure-coded (protected) dataset on the storage node \(node), which cannot be verified here; "
                + "a community's archives and index are plain uploads, so it is not downloaded"
        case .notFound(let cid, let node, let lookedFor):
            return "\(cid) not found on the storage network yet (the node \(node) looked for \(lookedFor.components.seconds) s)"
        case .notStoredInTime(let cid, let timeout):
            return "the storage node did not finish fetching \(cid) within \(timeout)"
        case .tooSlow(let cid, let node, let received, let window, let minimum):
            return "the storage node \(node) sent \(received) bytes of \(cid) in \(window.components.seconds) s, under the minimum of \(minimum) bytes/s; "
                + "the download was stopped and will be tried again later (--min-download-rate sets the minimum)"
        case .unexpectedAnswer(let what):
            return "unexpected answer from the storage node: \(what)"
        case .notAStorageAPI(let node, let answers):
            return "\(node) is not a storage node's REST API (Logos Storage, formerly Codex): \(answers.joined(separator: ", ")); "
                + "check the address and port, and that the node was started with --api-bindaddr=127.0.0.1 --api-port=8080 "
                + "(its REST API is off by default since 2026)"
        case .unknownManifestLayout(let cid, let node, let treeCID):
            return "the storage node \(node) served the dataset of \(cid) (tree \(treeCID)), but its CID is written in a manifest layout "
                + "this build does not know: the community's control node runs a newer storage node generation; "
                + "upgrade community-history (the archive is kept in the plan and tried again)"
        }
    }
}

/// A `CodexDatasetHasher` fed from the transport's delegate queue (one chunk at a time, in
/// order) and read once the download is over.
final class StreamHasher: Sendable {
    private let hasher: Mutex<CodexDatasetHasher>

    init(blockSize: Int) { hasher = Mutex(CodexDatasetHasher(blockSize: blockSize)) }

    func update(_ chunk: Data) { hasher.withLock { $0.update(chunk) } }

    /// Nil when nothing arrived (no CID names an empty dataset).
    func finish(_ attributes: CodexUploadAttributes) -> CodexDatasetAddress? {
        // An empty dataset is the only failure, and it is answered by nil.
        hasher.withLock { try? $0.finish(attributes) }
    }
}
