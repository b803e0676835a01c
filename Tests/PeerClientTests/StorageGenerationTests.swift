import CodexClient
import DemoNetwork
import Foundation
import LocalHTTPServer
import PeerHTTP
import StatusWire
import Testing

/// The client against both storage node generations a member may run: Logos Storage (2026:
/// `/api/storage/v1`, the 2026-01 manifest) and the Codex node of 2025 (`/api/codex/v1`, the
/// 2025 manifest), given nothing but the node's address.
@Suite(.timeLimit(.minutes(5))) struct StorageGenerationTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("storage-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Regression: the client hard-coded `/api/codex/v1`, so against a 2026 node every manifest
    /// request met the router's 404 and read "not found on the network yet", forever.
    @Test(arguments: DemoStorageGeneration.allCases)
    func theAPIIsFoundAndDownloadsVerifyOnEitherGeneration(_ generation: DemoStorageGeneration) async throws {
        let node = try await DemoCodexNode.start(directory: try temporaryDirectory(), missingLookup: .milliseconds(100), generation: generation)
        defer { Task { await node.stop() } }
        let codex = CodexClient(baseURL: node.baseURL, retry: .none)
        #expect(try await codex.apiPrefix() == generation.apiPrefix)

        let content = Data((0..<150_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let cid = try await codex.upload(content)
        // The node names the upload in its own layout; the client finds which while it verifies.
        #expect(cid == (try CID.codex(of: [UInt8](content), layout: generation.layout)).manifestCID)
        let manifest = try await codex.manifest(cid)
        #expect((manifest.manifest.protected == nil) == (generation == .storage2026), "Logos Storage's manifest JSON has no `protected`")
        let file = try temporaryDirectory().appendingPathComponent("data")
        #expect(try await codex.download(cid, to: file) == 150_000)
        #expect(try Data(contentsOf: file) == content)
        #expect(codex.lastVerifiedLayout == generation.layout)

        // The node's identity in either shape.
        let info = try await codex.debugInfo()
        #expect(info.nodeVersion?.version != nil && info.peerCount == 1)
        #expect((info.announceAddresses == nil) == (generation == .storage2026))
    }

    /// The API written out in the URL pins it (no probe); the root is what requests are built on.
    @Test func aURLThatNamesTheAPIPinsIt() async throws {
        let node = try await DemoCodexNode.start(directory: try temporaryDirectory(), generation: .storage2026)
        defer { Task { await node.stop() } }
        for written in [node.apiURL, node.apiURL.appendingPathComponent("")] {
            let codex = CodexClient(baseURL: written, retry: .none)
            #expect(codex.pinnedPrefix == .storage && codex.baseURL == node.baseURL)
            _ = try await codex.upload(Data("pinned".utf8))
        }
        let legacy = CodexClient(baseURL: URL(string: "http://127.0.0.1:8080/api/codex/v1/")!)
        #expect(legacy.pinnedPrefix == .codex && legacy.baseURL.absoluteString == "http://127.0.0.1:8080")
    }

    /// Regression: a router's bare 404 was read as "not on the network yet". A prefix pinned to
    /// the other generation, or an address that is no storage node, is said to be so, with the
    /// fix, and counts as the node's problem (not the archive's).
    @Test func aWrongAPIIsNotReadAsNotFound() async throws {
        let node = try await DemoCodexNode.start(directory: try temporaryDirectory(), missingLookup: .seconds(30), generation: .storage2026)
        defer { Task { await node.stop() } }
        let cid = try CID.codex(of: Array("anything".utf8)).manifestCID
        let pinnedWrong = CodexClient(baseURL: node.baseURL, apiPrefix: .codex, retry: .none)
        await #expect {
            _ = try await pinnedWrong.manifest(cid)
        } throws: { error in
            guard let codexError = error as? CodexError, case .notAStorageAPI = codexError else { return false }
            return codexError.isNodeProblem
        }

        // Not a storage node at all (an nwaku node's REST API, say): no prefix answers /debug/info.
        let waku = try await DemoWakuNode.start()
        defer { Task { await waku.stop() } }
        let elsewhere = CodexClient(baseURL: waku.baseURL, retry: .none)
        await #expect {
            _ = try await elsewhere.manifest(cid)
        } throws: { error in
            guard let codexError = error as? CodexError, case .notAStorageAPI(_, let answers) = codexError else { return false }
            return answers.count == 2 && "\(codexError)".contains("--api-bindaddr=127.0.0.1 --api-port=8080")
        }
    }

    /// A node whose own 404 has no body (Logos Storage answers `error(Http404, err.msg)`, empty
    /// when the message is) under a prefix that answers: not found on the network yet, not a
    /// wrong API.
    @Test func aBare404UnderAnAnsweringPrefixIsNotFound() async throws {
        let server = try await LoopbackHTTPServer.start { request in
            let route = Array(request.pathSegments.dropFirst(3))
            guard request.pathSegments.prefix(3) == ["api", "storage", "v1"] else { return LoopbackResponse(status: 404) }
            return route == ["debug", "info"] ? .json(["id": "storage"]) : LoopbackResponse(status: 404)
        }
        defer { Task { await server.stop() } }
        let missing = try CID.codex(of: Array("nowhere".utf8)).manifestCID
        await #expect {
            _ = try await CodexClient(baseURL: server.baseURL, retry: .none).manifest(missing)
        } throws: { error in
            guard case .notFound? = error as? CodexError else { return false }
            return true
        }
    }

    /// A node replaced by one of the other generation while the client runs: the next bare 404
    /// sends the client to probe again, and it goes on under the new prefix.
    @Test func aNodeUpgradedUnderTheClientIsFoundAgain() async throws {
        let directory = try temporaryDirectory()
        let old = try await DemoCodexNode.start(directory: directory, generation: .codex2025)
        let port = old.port
        let codex = CodexClient(baseURL: old.baseURL, retry: .none)
        #expect(try await codex.apiPrefix() == .codex)
        await old.stop()
        let new = try await DemoCodexNode.start(directory: directory, port: port, generation: .storage2026)
        defer { Task { await new.stop() } }
        let cid = try await codex.upload(Data("after the upgrade".utf8))
        #expect(try await codex.apiPrefix() == .storage)
        #expect(try await codex.manifest(cid).cid == cid.string)
    }

    /// A node that serves the right dataset under a CID written in a manifest layout this build
    /// does not know (a newer generation): its own failure, retryable, naming an upgrade; never
    /// "wrong bytes". Bytes whose tree is not the manifest's are still wrong bytes.
    @Test func aCIDInAnUnknownLayoutIsItsOwnFailure() async throws {
        let bytes = Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        let address = try CID.codex(of: [UInt8](bytes))
        // A manifest CID no known layout gives these bytes: what a future node might answer.
        let future = try CID.codex(of: Array("a manifest of a future layout".utf8)).manifestCID
        for (tree, expectUnknownLayout) in [(address.treeCID.string, true), (try CID.codex(of: [1, 2, 3]).treeCID.string, false)] {
            let server = try await LoopbackHTTPServer.start { request in
                switch Array(request.pathSegments.dropFirst(3)) {
                case ["debug", "info"]: return .json(["id": "future-node"])
                case ["data", future.string, "network", "manifest"]:
                    return .json(CodexDataItem(cid: future.string, manifest: .init(
                        treeCid: tree, datasetSize: Int64(bytes.count), blockSize: 65_536, protected: nil,
                        filename: "archive-data.bin", mimetype: "application/octet-stream", manifestVersion: 1)))
                case ["data", future.string, "network", "stream"]: return LoopbackResponse(status: 200, body: .data(bytes))
                default: return LoopbackResponse(status: 404)
                }
            }
            let codex = CodexClient(baseURL: server.baseURL, retry: .none)
            let destination = try temporaryDirectory().appendingPathComponent("archive")
            await #expect {
                try await codex.download(future, to: destination)
            } throws: { error in
                guard let codexError = error as? CodexError, codexError.isRetryable, !codexError.isNodeProblem else { return false }
                switch codexError {
                case .unknownManifestLayout: return expectUnknownLayout && "\(codexError)".contains("upgrade community-history")
                case .contentMismatch: return !expectUnknownLayout
                default: return false
                }
            }
            #expect(!FileManager.default.fileExists(atPath: destination.path))
            await server.stop()
        }
    }
}
