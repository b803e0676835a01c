import CodexClient
import Foundation
import LocalHTTPServer
import StatusWire

/// A loopback Codex node: the REST API `/api/codex/v1` over a directory of blobs named by
/// their CIDs. Every dataset is "on the network" and local at once.
///
/// ```swift
/// let codex = try await DemoCodexNode.start(directory: blobs)
/// let client = CodexClient(baseURL: codex.baseURL)
/// ```
public final class DemoCodexNode: Sendable {
    public let directory: URL
    public let server: LoopbackHTTPServer
    let faults: Faults

    public var baseURL: URL { server.baseURL }
    public var port: Int { server.port }

    /// Misbehaviour for tests.
    actor Faults {
        var failuresLeft = 0
        var failureStatus = 503
        var truncated: Set<String> = []
        var delay: Duration = .zero
        var requests = 0

        func next(cid: String?) -> (fail: Int?, truncate: Bool, delay: Duration) {
            requests += 1
            if failuresLeft > 0 {
                failuresLeft -= 1
                return (failureStatus, false, delay)
            }
            return (nil, cid.map { truncated.contains($0) } ?? false, delay)
        }

        func fail(next count: Int, status: Int) { failuresLeft = count; failureStatus = status }
        func truncate(_ cid: String) { truncated.insert(cid) }
        func delayResponses(by duration: Duration) { delay = duration }
    }

    private init(directory: URL, server: LoopbackHTTPServer, faults: Faults) {
        self.directory = directory
        self.server = server
        self.faults = faults
    }

    public static func start(directory: URL, port: Int = 0) async throws -> DemoCodexNode {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let faults = Faults()
        let server = try await LoopbackHTTPServer.start(port: port) { request in
            await handle(request, directory: directory, faults: faults)
        }
        return DemoCodexNode(directory: directory, server: server, faults: faults)
    }

    public func stop() async { await server.stop() }

    /// The next `count` requests answer `status` (e.g. 503) instead of working.
    public func failNextRequests(_ count: Int, status: Int = 503) async { await faults.fail(next: count, status: status) }

    /// Downloads of `cid` stop halfway (the connection is cut).
    public func truncateDownloads(of cid: CID) async { await faults.truncate(cid.string) }

    /// Every answer from now on comes `duration` late (a slow or overloaded node).
    public func delayResponses(by duration: Duration) async { await faults.delayResponses(by: duration) }

    public func requestCount() async -> Int { await faults.requests }

    static func handle(_ request: LoopbackRequest, directory: URL, faults: Faults) async -> LoopbackResponse {
        let path = request.pathSegments
        guard path.count >= 3, path[0] == "api", path[1] == "codex", path[2] == "v1" else { return .text("not found", status: 404) }
        let route = Array(path.dropFirst(3))
        let cidText = route.count >= 2 && route[0] == "data" ? route[1] : nil
        let (fail, truncate, delay) = await faults.next(cid: cidText)
        if delay > .zero { try? await Task.sleep(for: delay) }
        if let fail { return .text("demo node: injected failure", status: fail) }

        switch (request.method, route.count) {
        case ("POST", 1) where route[0] == "data":
            let cid = CID.contentAddress(of: [UInt8](request.body))
            do { try request.body.write(to: directory.appendingPathComponent(cid.string)) } catch {
                return .text("cannot store: \(error)", status: 500)
            }
            return .text(cid.string)
        case ("GET", 1) where route[0] == "space":
            return .json(["totalBlocks": 0, "quotaMaxBytes": 1 << 40, "quotaUsedBytes": 0, "quotaReservedBytes": 0])
        default:
            break
        }
        guard let cidText else { return .text("not found", status: 404) }
        guard let cid = try? CID(cidText) else { return .text("invalid CID", status: 400) }
        let file = directory.appendingPathComponent(cid.string)
        let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.int64Value
        let tail = Array(route.dropFirst(2))

        switch (request.method, tail) {
        case ("GET", []), ("GET", ["network", "stream"]):
            guard size != nil else { return .text("not found", status: 404) }
            return LoopbackResponse(status: 200, body: .file(file, truncatedTo: truncate ? Int(size! / 2) : nil))
        case ("GET", ["network", "manifest"]), ("POST", ["network"]):
            guard let size else { return .text("manifest not found", status: 404) }
            return .json(CodexDataItem(cid: cid.string, manifest: .init(
                treeCid: cid.string, datasetSize: size, blockSize: 65_536, protected: false,
                filename: "archive-data.bin", mimetype: "application/octet-stream")))
        case ("GET", ["exists"]):
            return .json([cid.string: size != nil])
        case ("DELETE", []):
            try? FileManager.default.removeItem(at: file)
            return LoopbackResponse(status: 204)
        default:
            return .text("not found", status: 404)
        }
    }
}
