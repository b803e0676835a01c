import CodexClient
import DemoNetwork
import Foundation
import PeerHTTP
import StatusWire
import Synchronization
import Testing

/// The Codex client against a Codex REST server on 127.0.0.1, over real HTTP.
@Suite struct CodexClientTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("codex-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    let fastRetry = RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(50), multiplier: 2, maxDelay: .milliseconds(200))

    @Test func uploadThenDownloadEveryWay() async throws {
        let node = try await DemoCodexNode.start(directory: try temporaryDirectory())
        defer { Task { await node.stop() } }
        let codex = CodexClient(baseURL: node.baseURL, retry: fastRetry)
        let content = Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 * 31) })
        let cid = try await codex.upload(content)
        #expect(cid == CID.contentAddress(of: [UInt8](content)))

        let manifest = try await codex.manifest(cid)
        #expect(manifest.cid == cid.string && manifest.manifest.datasetSize == 200_000)

        let out = try temporaryDirectory()
        let streamed = out.appendingPathComponent("streamed")
        #expect(try await codex.download(cid, to: streamed) == 200_000)
        #expect(try Data(contentsOf: streamed) == content)

        // status-go's way: background fetch, poll exists, read locally.
        #expect(try await codex.fetchInBackground(cid).manifest.datasetSize == 200_000)
        try await codex.waitUntilStored(cid, pollEvery: .milliseconds(50), timeout: .seconds(5))
        let local = out.appendingPathComponent("local")
        try await codex.downloadLocal(cid, to: local, expectedBytes: 200_000)
        #expect(try Data(contentsOf: local) == content)

        try await codex.delete(cid)
        #expect(try await codex.exists(cid) == false)
        await #expect {
            _ = try await codex.manifest(cid)
        } throws: { error in
            (error as? PeerError)?.kind == .status(404)
        }
    }

    @Test func transientFailuresAreRetried() async throws {
        let node = try await DemoCodexNode.start(directory: try temporaryDirectory())
        defer { Task { await node.stop() } }
        let codex = CodexClient(baseURL: node.baseURL, retry: fastRetry)
        let cid = try await codex.upload(Data("hello".utf8))
        await node.failNextRequests(2, status: 503)
        #expect(try await codex.manifest(cid).manifest.datasetSize == 5)
        // A 404 is not retried.
        let before = await node.requestCount()
        _ = try? await codex.manifest(CID.contentAddress(of: [9, 9]))
        #expect(await node.requestCount() == before + 1)
    }

    @Test func cutDownloadLeavesNoFile() async throws {
        let node = try await DemoCodexNode.start(directory: try temporaryDirectory())
        defer { Task { await node.stop() } }
        let codex = CodexClient(baseURL: node.baseURL, retry: .none)
        let cid = try await codex.upload(Data(repeating: 7, count: 300_000))
        await node.truncateDownloads(of: cid)
        let destination = try temporaryDirectory().appendingPathComponent(cid.string)
        await #expect(throws: (any Error).self) { try await codex.download(cid, to: destination) }
        #expect(!FileManager.default.fileExists(atPath: destination.path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: destination.deletingLastPathComponent().path)
        #expect(leftovers.isEmpty)
    }

    @Test func downloadReportsItsBytesAsTheyArrive() async throws {
        let node = try await DemoCodexNode.start(directory: try temporaryDirectory())
        defer { Task { await node.stop() } }
        let codex = CodexClient(baseURL: node.baseURL, retry: .none)
        let content = Data((0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let cid = try await codex.upload(content)
        let seen = Counts()
        let destination = try temporaryDirectory().appendingPathComponent(cid.string)
        let bytes = try await codex.download(cid, to: destination, manifest: try await codex.manifest(cid)) { seen.append($0) }
        #expect(bytes == 1_000_000)
        #expect(try Data(contentsOf: destination) == content)
        let reports = seen.values
        // The body arrives in chunks (the demo node sends 64 KiB at a time), counted up to the whole.
        #expect(reports.count >= 2)
        #expect(reports == reports.sorted())
        #expect(reports.last == 1_000_000)
    }

    @Test func aLocalFileProblemIsNotBlamedOnTheNode() async throws {
        let node = try await DemoCodexNode.start(directory: try temporaryDirectory())
        defer { Task { await node.stop() } }
        let cid = try await CodexClient(baseURL: node.baseURL).upload(Data("hello".utf8))
        let request = HTTPRequest(url: node.baseURL.appendingPathComponent("api/codex/v1/data/\(cid)/network/stream"))
        let nowhere = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/file")
        await #expect {
            _ = try await URLSessionTransport().download(request, to: nowhere)
        } throws: { error in
            !(error is PeerError)
        }
    }

    @Test func unreachableNodeSaysSo() async throws {
        let codex = CodexClient(baseURL: URL(string: "http://127.0.0.1:1")!, retry: .none)
        await #expect {
            _ = try await codex.manifest(CID.contentAddress(of: [1]))
        } throws: { error in
            guard let peer = error as? PeerError else { return false }
            return peer.kind == .unreachable && peer.description.contains("is the node running")
        }
    }

    @Test func invalidCIDIsRefusedByTheNode() async throws {
        let node = try await DemoCodexNode.start(directory: try temporaryDirectory())
        defer { Task { await node.stop() } }
        let transport = URLSessionTransport()
        let response = try await transport.send(HTTPRequest(url: node.baseURL.appendingPathComponent("api/codex/v1/data/Qmnotacid/network/manifest")))
        #expect(response.status == 400)
    }
}

/// Values reported from another thread.
final class Counts: Sendable {
    private let storage = Mutex<[Int64]>([])
    func append(_ value: Int64) { storage.withLock { $0.append(value) } }
    var values: [Int64] { storage.withLock { $0 } }
}
