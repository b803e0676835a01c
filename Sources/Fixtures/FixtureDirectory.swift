import Foundation
import HistoryStore
import StatusCrypto
import StatusWire

/// A directory holding one community's published history, as Codex would serve it:
///
/// ```
/// manifest.json          {"communityID": "0x02…", "indexCID": "zDvZ…", "localMessages": "local-messages.json",
///                         "storageLayout": "2026-01", "controlNodeSeed": 1 (demo fixtures only)}
/// blobs/<CID>            the index and every archive, each named by its CID
/// local-messages.json    optional: messages a chat client had received live (seeded into a new database)
/// expected-report.json   optional: what `replay --json` must print on a new database
/// ```
public struct FixtureDirectory: Sendable {
    public struct Manifest: Codable, Sendable {
        public var communityID: CommunityID
        public var indexCID: String
        public var localMessages: String?
        public var description: String?
        /// Demo fixtures only: the seed the control-node tool derives the community key from,
        /// so the demo network can sign announcements. A real community key stays secret.
        public var controlNodeSeed: UInt64?
        /// The manifest layout the fixture's CIDs are written in: the storage node generation
        /// its control node ran. Fixtures made before the field existed were all `codex2025`.
        public var storageLayout: CodexManifestLayout?

        public init(communityID: CommunityID, indexCID: String, localMessages: String?, description: String?, controlNodeSeed: UInt64? = nil,
                    storageLayout: CodexManifestLayout? = nil) {
            self.storageLayout = storageLayout
            self.communityID = communityID
            self.indexCID = indexCID
            self.localMessages = localMessages
            self.description = description
            self.controlNodeSeed = controlNodeSeed
        }
    }

    public let url: URL
    public let manifest: Manifest

    /// The layout of the fixture's CIDs (`Manifest.storageLayout`; the 2025 one when unsaid,
    /// as every fixture written before the field was).
    public var layout: CodexManifestLayout { manifest.storageLayout ?? .codex2025 }

    public init(url: URL) throws {
        self.url = url
        let manifestURL = url.appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: manifestURL.path) else {
            throw FixtureError.missing("\(manifestURL.path) (a fixture directory needs a manifest.json)")
        }
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw FixtureError.invalid("\(manifestURL.path): \(error)")
        }
    }

    /// Where the blob named `cid` lives; the CID is validated first so it cannot name a path.
    public func blobPath(_ cid: CID) -> String {
        url.appendingPathComponent("blobs").appendingPathComponent(cid.string).path
    }

    /// The index, opened with `keys` when the community is encrypted.
    public func readIndex(limits: DecodingLimits = .default, keys: (any HashRatchetKeyring)? = nil) throws -> (CID, ArchiveIndex) {
        let cid = try CID(manifest.indexCID)
        guard let data = FileManager.default.contents(atPath: blobPath(cid)) else {
            throw FixtureError.missing("the index blob \(blobPath(cid))")
        }
        let bytes = [UInt8](data)
        let address = try? CID.codex(of: bytes, .statusArchive, layout: layout)
        guard address?.layout(matching: cid) != nil else {
            throw FixtureError.invalid("the index blob is not \(cid) as a storage node of any generation would address it "
                + "(uploaded as archive-data.bin it is \(address?.manifestCID.string ?? "nothing: it is empty") in the \(layout) layout)")
        }
        return (cid, try ArchiveIndex(bytes: bytes, limits: limits, keys: keys))
    }

    /// The path of the blob named `cid`, after checking that its bytes are what a Codex node
    /// would name `cid` when status-go uploads them (`archive-data.bin`).
    public func verifiedBlobPath(_ cid: CID) throws -> String {
        let path = blobPath(cid)
        guard FileManager.default.fileExists(atPath: path) else { throw FixtureError.missing("blob \(cid)") }
        let address: CodexDatasetAddress?
        do { address = try CID.codex(ofFileAt: path, .statusArchive, layout: layout) } catch CodexDatasetError.empty { address = nil }
        guard address?.layout(matching: cid) != nil else {
            throw FixtureError.invalid("blob \(cid) is not what that CID names "
                + "(uploaded as archive-data.bin it is \(address?.manifestCID.string ?? "nothing: it is empty") in the \(layout) layout)")
        }
        return path
    }

    public func localMessages() throws -> [StoredMessage] {
        guard let name = manifest.localMessages else { return [] }
        let path = url.appendingPathComponent(name).path
        guard let data = FileManager.default.contents(atPath: path) else { throw FixtureError.missing(path) }
        do {
            return try JSONDecoder().decode([StoredMessage].self, from: data)
        } catch {
            throw FixtureError.invalid("\(path): \(error)")
        }
    }
}

public enum FixtureError: Error, CustomStringConvertible {
    case missing(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .missing(let what): return "missing \(what)"
        case .invalid(let what): return "invalid fixture: \(what)"
        }
    }
}
