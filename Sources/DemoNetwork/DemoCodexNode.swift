import CodexClient
import Foundation
import LocalHTTPServer
import StatusWire

/// A loopback storage node over a directory of uploads, behaving as a real one does where a
/// client can tell, as either generation a member may run (`DemoStorageGeneration`): Logos
/// Storage (2026: REST under `/api/storage/v1`, the 2026-01 manifest layout; logos-storage-nim
/// `storage/rest/api.nim`, `storage/rest/json.nim`) or the Codex node of 2025 (`/api/codex/v1`;
/// file and line of nim-codex `bd360322` in each comment below, the same code in both):
///
/// - an upload is addressed like a real node addresses it: 64 KiB blocks, Merkle tree,
///   manifest with the upload's filename and mimetype in the generation's layout
///   (`CodexDatasetHasher`, `CodexManifestLayout`);
/// - a path the router has no route for (the other generation's prefix among them) gets a bare
///   404 with no body (nim-presto `serverprivate.nim`, no error handler installed);
/// - a CID the node does not hold is looked for on the network for `missingLookup` (hours on a
///   real node) before the answer: 404 for the manifest, 500 for the stream;
/// - `exists` says whether the manifest block is held, not the whole dataset.
///
/// Each upload is kept as `<cid>` (the bytes) and `<cid>.manifest.json` (its manifest).
///
/// ```swift
/// let codex = try await DemoCodexNode.start(directory: blobs, missingLookup: .milliseconds(200))
/// let client = CodexClient(baseURL: codex.baseURL)
/// ```
public final class DemoCodexNode: Sendable {
    public let directory: URL
    public let server: LoopbackHTTPServer
    public let generation: DemoStorageGeneration
    let faults: Faults

    public var baseURL: URL { server.baseURL }
    public var port: Int { server.port }

    /// Misbehaviour and settings for tests.
    actor Faults {
        var failuresLeft = 0
        var failureStatus = 503
        var truncated: Set<String> = []
        var corrupted: Set<String> = []
        var paced: [String: BodyPacing] = [:]
        var delay: Duration = .zero
        var requests = 0
        /// Requests past their delay (answered, or about to be).
        var answered = 0
        var missingLookup: Duration
        var isolated = false

        init(missingLookup: Duration) { self.missingLookup = missingLookup }

        struct Next {
            var fail: Int?
            var truncate = false
            var corrupt = false
            var pacing: BodyPacing?
            var delay: Duration
        }

        /// `counted`: whether `requestCount` includes it (not the API probe a client makes once,
        /// so that tests count what a client asks of the data).
        func next(cid: String?, counted: Bool = true) -> Next {
            if counted { requests += 1 }
            if failuresLeft > 0 {
                failuresLeft -= 1
                return Next(fail: failureStatus, delay: delay)
            }
            guard let cid else { return Next(delay: delay) }
            return Next(truncate: truncated.contains(cid), corrupt: corrupted.contains(cid), pacing: paced[cid], delay: delay)
        }

        func fail(next count: Int, status: Int) { failuresLeft = count; failureStatus = status }
        func truncate(_ cid: String) { truncated.insert(cid) }
        func corrupt(_ cid: String) { corrupted.insert(cid) }
        func pace(_ cid: String, _ pacing: BodyPacing) { paced[cid] = pacing }
        func delayResponses(by duration: Duration) { delay = duration }
        func isolate() { isolated = true }
        func delayOver() { answered += 1 }
    }

    private init(directory: URL, server: LoopbackHTTPServer, generation: DemoStorageGeneration, faults: Faults) {
        self.directory = directory
        self.server = server
        self.generation = generation
        self.faults = faults
    }

    /// `missingLookup`: how long a request for a CID the node does not hold searches the
    /// network before it fails. A real node retries block discovery 3,000 times, 1–3 s each
    /// (`blockexchange/engine/pendingblocks.nim:36-37`, `engine.nim:365-378`): tests keep it short.
    /// `generation`: the node a member runs today (Logos Storage) unless told otherwise.
    public static func start(directory: URL, port: Int = 0, missingLookup: Duration = .seconds(30),
                             generation: DemoStorageGeneration = .current) async throws -> DemoCodexNode {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let faults = Faults(missingLookup: missingLookup)
        let server = try await LoopbackHTTPServer.start(port: port) { request in
            await handle(request, directory: directory, generation: generation, faults: faults)
        }
        return DemoCodexNode(directory: directory, server: server, generation: generation, faults: faults)
    }

    /// The node's REST API, as a user would write it in full.
    public var apiURL: URL { baseURL.appendingPathComponent(String(generation.apiPrefix.rawValue.dropFirst())) }

    public func stop() async { await server.stop() }

    /// The next `count` requests answer `status` (e.g. 503) instead of working.
    public func failNextRequests(_ count: Int, status: Int = 503) async { await faults.fail(next: count, status: status) }

    /// Downloads of `cid` stop halfway (the connection is cut).
    public func truncateDownloads(of cid: CID) async { await faults.truncate(cid.string) }

    /// Downloads of `cid` deliver the right number of bytes, one of them wrong (a buggy or
    /// hostile node; a real one checks blocks against the tree, `engine.nim:658-686`).
    public func corruptDownloads(of cid: CID) async { await faults.corrupt(cid.string) }

    /// Downloads of `cid` send headers and `bytes` of the body, then nothing more while the
    /// connection stays open: what a real node does when a block of the dataset cannot be found.
    /// It sends 200 and Content-Length before fetching any block (`api.nim:126`), streams blocks
    /// strictly in order (`streams/storestream.nim:74-126`), and a missing block waits for
    /// discovery's 3000 retries, hours (`blockexchange/engine/pendingblocks.nim:36-37`).
    public func stallDownloads(of cid: CID, after bytes: Int) async {
        await faults.pace(cid.string, BodyPacing(chunkBytes: 64 * 1024, interval: .zero, stallAfter: bytes))
    }

    /// Downloads of `cid` send `bytes` every `interval`: blocks fetched one by one from a slow
    /// peer reach the stream as they arrive (`streams/storestream.nim:74-126`).
    public func trickleDownloads(of cid: CID, bytes: Int, every interval: Duration) async {
        await faults.pace(cid.string, BodyPacing(chunkBytes: bytes, interval: interval))
    }

    /// Every answer from now on comes `duration` late (a slow or overloaded node).
    public func delayResponses(by duration: Duration) async { await faults.delayResponses(by: duration) }

    /// `/debug/info` shows no peers and no announce address (a node that never joined the network).
    public func isolateFromNetwork() async { await faults.isolate() }

    /// Requests so far, but for `/debug/info` (which clients ask once to find the API).
    public func requestCount() async -> Int { await faults.requests }

    /// Requests that got past `delayResponses` (so a test can tell whether something waited for the node).
    public func answeredCount() async -> Int { await faults.answered }

    /// What nim-presto answers a path it has no route for: 404 and nothing else.
    static let noRoute = LoopbackResponse(status: 404)

    static func handle(_ request: LoopbackRequest, directory: URL, generation: DemoStorageGeneration, faults: Faults) async -> LoopbackResponse {
        let path = request.pathSegments
        let prefix = generation.apiPrefix.rawValue.split(separator: "/").map(String.init)
        guard path.count >= prefix.count, Array(path.prefix(prefix.count)) == prefix else { return noRoute }
        let route = Array(path.dropFirst(prefix.count))
        let cidText = route.count >= 2 && route[0] == "data" ? route[1] : nil
        let next = await faults.next(cid: cidText, counted: route != ["debug", "info"])
        if next.delay > .zero { try? await Task.sleep(for: next.delay) }
        await faults.delayOver()
        if let fail = next.fail { return .text("demo node: injected failure", status: fail) }

        switch (request.method, route) {
        case ("POST", ["data"]):
            return upload(request, directory: directory, generation: generation)
        case ("GET", ["space"]):
            return .json(space(directory))
        case ("GET", ["debug", "info"]):
            switch generation {
            case .codex2025: return .json(DebugInfo2025(isolated: await faults.isolated))
            case .storage2026: return .json(DebugInfo2026(isolated: await faults.isolated))
            }
        default:
            break
        }
        guard let cidText else { return noRoute }
        // api.nim:340-341, 358-359: a CID that does not parse is a 400.
        guard let cid = try? CID(cidText) else { return .text("Incorrect Cid", status: 400) }
        let store = Upload(directory: directory, cid: cid)
        let manifest = store.manifest()
        let tail = Array(route.dropFirst(2))
        let lookup = await faults.missingLookup

        switch (request.method, tail) {
        case ("GET", []):
            // Local read: 404 at once when the manifest block is not local (node.nim:362-363; api.nim:86-91).
            guard manifest != nil else {
                return .text("The requested CID could not be retrieved (Block not found in local store).", status: 404)
            }
            return store.serve(next)
        case ("GET", ["network", "stream"]):
            guard manifest != nil else {
                // The stream looks the dataset up, then fails with 500 (api.nim:86-95).
                try? await Task.sleep(for: lookup)
                return .text("Failed to fetch block from the network: retries exhausted", status: 500)
            }
            return store.serve(next)
        case ("GET", ["network", "manifest"]), ("POST", ["network"]):
            guard cid.codec == CodexCodec.manifest else {
                return .text("CID has invalid content type for manifest", status: 404)  // node.nim:124-125
            }
            guard let manifest else {
                // fetchManifest retries discovery, then answers 404 with its error (api.nim:361-363).
                try? await Task.sleep(for: lookup)
                return .text("Failed to fetch manifest: retries exhausted", status: 404)
            }
            return .json(CodexDataItem(cid: cid.string, manifest: manifest))
        case ("GET", ["exists"]):
            // hasLocalBlock(cid): the manifest block, not the dataset (node.nim:938-943).
            return .json([cid.string: manifest != nil])
        case ("DELETE", []):
            store.delete()
            return LoopbackResponse(status: 204)
        default:
            return noRoute
        }
    }

    /// `POST /data` (api.nim:198-258).
    static func upload(_ request: LoopbackRequest, directory: URL, generation: DemoStorageGeneration) -> LoopbackResponse {
        let mimetype = request.headers["content-type"].flatMap { $0.isEmpty ? nil : $0 }
        // A non-empty Content-Type that std/mimetypes knows no extension for is refused (:215-222).
        if let mimetype, !knownMimetypes.contains(mimetype.lowercased()) {
            return .text("The MIME type '\(mimetype)' is not valid.", status: 422)
        }
        // Everything after `filename="`, minus the closing quote (:171-181).
        let filename = request.headers["content-disposition"].flatMap { header -> String? in
            guard let start = header.range(of: "filename=\"") else { return nil }
            return String(header[start.upperBound...].dropLast())
        }
        guard !request.body.isEmpty else {
            // No chunk gives no tree: "Empty leaves" (merkletree/codex/codex.nim:146-148) → 500.
            return .text("Unable to store block: Empty leaves", status: 500)
        }
        let attributes = CodexUploadAttributes(filename: filename, mimetype: mimetype)
        do {
            let address = try CID.codex(of: request.body, attributes, layout: generation.layout)
            let store = Upload(directory: directory, cid: address.manifestCID)
            // The manifest JSON: 2025 nodes add `protected` (erasure coding), Logos Storage
            // does not (logos-storage-nim `storage/rest/json.nim`).
            try store.write(request.body, manifest: .init(
                treeCid: address.treeCID.string, datasetSize: address.datasetSize, blockSize: Int64(address.blockSize),
                protected: generation == .codex2025 ? false : nil, filename: filename, mimetype: mimetype))
            return .text(address.manifestCID.string)
        } catch {
            return .text("Unable to store: \(error)", status: 500)
        }
    }

    /// Types nim's `std/mimetypes` maps to an extension (a few of its hundreds; enough for clients).
    static let knownMimetypes: Set<String> = [
        "application/octet-stream", "application/json", "application/zip", "application/gzip", "application/pdf",
        "application/x-tar", "text/plain", "text/html", "text/csv", "image/png", "image/jpeg", "image/gif",
    ]

    static func space(_ directory: URL) -> [String: Int64] {
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: [.fileSizeKey])) ?? []
        let used = files.reduce(Int64(0)) { $0 + Int64((try? $1.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0) }
        return ["totalBlocks": used / 65_536 + Int64(files.count), "quotaMaxBytes": 20 << 30, "quotaUsedBytes": used, "quotaReservedBytes": 0]
    }

    /// The routing table of `/debug/info`, whose node entries differ by generation.
    struct RoutingTable<Node: Encodable>: Encodable {
        var localNode: Node
        var nodes: [Node]
    }

    /// `{version, revision}`: under `codex` on a 2025 node, under `storage` on Logos Storage.
    struct NodeVersion: Encodable { var version: String; var revision: String }

    /// `/debug/info` of a 2025 node (nim-codex api.nim `/debug/info`): peer ID, addresses,
    /// announce addresses, the DHT routing table and `codex{version, revision}`.
    struct DebugInfo2025: Encodable {
        struct Node: Encodable { var peerId: String; var address: String; var seen: Bool }
        typealias Table = RoutingTable<Node>

        var id = "16Uiu2HAmDemoCodexNode"
        var addrs = ["/ip4/127.0.0.1/tcp/8070"]
        var spr = "spr:demo"
        var announceAddresses: [String]
        var table: Table
        var codex = NodeVersion(version: "v0.2.5-demo", revision: "demo")

        init(isolated: Bool) {
            announceAddresses = isolated ? [] : ["/ip4/127.0.0.1/tcp/8070"]
            let local = Node(peerId: id, address: "127.0.0.1:8090", seen: true)
            table = Table(localNode: local, nodes: isolated ? [] : [Node(peerId: "16Uiu2HAmDemoBootstrap", address: "127.0.0.1:8091", seen: true)])
        }
    }

    /// `/debug/info` of Logos Storage (logos-storage-nim `storage/rest/json.nim`, `DebugInfo`):
    /// no `announceAddresses`; the Kademlia table's nodes carry `addresses` and `lastSeen`; the
    /// version is under `storage`.
    struct DebugInfo2026: Encodable {
        struct Node: Encodable { var peerId: String; var addresses: [String]; var lastSeen: Int64 }
        typealias Table = RoutingTable<Node>

        var id = "16Uiu2HAmDemoStorageNode"
        var addrs = ["/ip4/127.0.0.1/tcp/8070"]
        var spr = "spr:demo"
        var libp2pPubKey = "demo"
        var table: Table
        var storage = NodeVersion(version: "v0.3.2-demo", revision: "demo")
        var connections = 0

        init(isolated: Bool) {
            let local = Node(peerId: id, addresses: addrs, lastSeen: 0)
            table = Table(localNode: local, nodes: isolated ? [] : [
                Node(peerId: "16Uiu2HAmDemoBootstrap", addresses: ["/ip4/127.0.0.1/tcp/8071"], lastSeen: 1_780_000_000),
            ])
            connections = isolated ? 0 : 1
        }
    }
}

/// The storage node generations the demo node can be: what a member may still run.
public enum DemoStorageGeneration: String, CaseIterable, Sendable {
    /// nim-codex as of 2025: `/api/codex/v1`, the 2025 manifest layout.
    case codex2025 = "2025"
    /// Logos Storage as released in 2026: `/api/storage/v1`, the 2026-01 manifest layout.
    case storage2026 = "2026"

    /// The node a member runs today.
    public static let current: DemoStorageGeneration = .storage2026

    public var apiPrefix: StorageAPIPrefix {
        switch self {
        case .codex2025: return .codex
        case .storage2026: return .storage
        }
    }

    public var layout: CodexManifestLayout {
        switch self {
        case .codex2025: return .codex2025
        case .storage2026: return .storage2026January
        }
    }
}

/// One upload on disk: its bytes and its manifest.
struct Upload {
    let data: URL
    let manifestFile: URL

    init(directory: URL, cid: CID) {
        data = directory.appendingPathComponent(cid.string)
        manifestFile = directory.appendingPathComponent(cid.string + ".manifest.json")
    }

    func manifest() -> CodexDataItem.Manifest? {
        guard let bytes = FileManager.default.contents(atPath: manifestFile.path) else { return nil }
        return try? JSONDecoder().decode(CodexDataItem.Manifest.self, from: bytes)
    }

    func write(_ bytes: Data, manifest: CodexDataItem.Manifest) throws {
        try bytes.write(to: data, options: .atomic)
        try JSONEncoder().encode(manifest).write(to: manifestFile, options: .atomic)
    }

    func delete() {
        try? FileManager.default.removeItem(at: manifestFile)
        try? FileManager.default.removeItem(at: data)
    }

    func serve(_ faults: DemoCodexNode.Faults.Next) -> LoopbackResponse {
        let size = (try? FileManager.default.attributesOfItem(atPath: data.path)[.size] as? NSNumber)?.intValue ?? 0
        if let pacing = faults.pacing { return LoopbackResponse(status: 200, body: .pacedFile(data, pacing)) }
        let (truncate, corrupt) = (faults.truncate, faults.corrupt)
        if corrupt, var bytes = FileManager.default.contents(atPath: data.path), !bytes.isEmpty {
            bytes[bytes.startIndex + bytes.count / 2] ^= 0x01
            return LoopbackResponse(status: 200, body: .data(bytes))
        }
        return LoopbackResponse(status: 200, body: .file(data, truncatedTo: truncate ? size / 2 : nil))
    }
}
