import Crypto

/// How a Codex node addresses an upload, computed here so that a client can check bytes it
/// downloads against the CID it asked for, and the control-node tool can name blobs the way a
/// real node will.
///
/// A Codex node (nim-codex / logos-storage-nim, see `../shared/reference/codex-cid.md`) cuts an
/// upload into `blockSize` blocks (64 KiB), zero-pads the last one (`codex/chunker.nim:52-98`),
/// hashes each with SHA-256, builds a Merkle tree over those digests
/// (`codex/merkletree/merkletree.nim:125-153`), and writes a manifest protobuf that names the tree
/// root, the block size, the unpadded byte count, and the upload's filename and mimetype
/// (`codex/manifest/coders.nim:32-107`). The CID the node returns is the SHA-256 of that manifest,
/// as CIDv1 with the codex-manifest codec 0xCD01.
///
/// ```swift
/// var hasher = CodexDatasetHasher()
/// hasher.update(bytes)                       // as often as bytes arrive
/// let address = try hasher.finish(.statusArchive)
/// address.manifestCID                        // zDvZ…, what `POST /data` answers
/// ```
public struct CodexDatasetHasher: Sendable {
    public let blockSize: Int
    private var block: [UInt8] = []
    private var leaves: [[UInt8]] = []
    private var size: Int64 = 0

    /// The block size a node uses unless told otherwise (`codex/codextypes.nim:28`).
    public static let defaultBlockSize = 65_536

    public init(blockSize: Int = CodexDatasetHasher.defaultBlockSize) {
        precondition(blockSize > 0, "a Codex block size is positive")
        self.blockSize = blockSize
        block.reserveCapacity(blockSize)
    }

    /// Bytes received so far.
    public var byteCount: Int64 { size }

    public mutating func update(_ bytes: some Collection<UInt8>) {
        size += Int64(bytes.count)
        var rest = bytes[...]
        while !rest.isEmpty {
            let take = min(blockSize - block.count, rest.count)
            block.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
            if block.count == blockSize { closeBlock() }
        }
    }

    /// The manifest CID and tree CID of everything passed to `update`, uploaded with `attributes`.
    /// Throws `CodexDatasetError.empty` for no bytes: a node refuses an empty upload.
    public func finish(_ attributes: CodexUploadAttributes) throws -> CodexDatasetAddress {
        var copy = self
        if !copy.block.isEmpty { copy.closeBlock() }
        guard size > 0, !copy.leaves.isEmpty else { throw CodexDatasetError.empty }
        let treeCID = CID.make(codec: CodexCodec.datasetRoot, digest: CodexMerkleTree.root(leaves: copy.leaves))
        let manifest = CodexManifestEncoding.encode(
            treeCID: treeCID, blockSize: blockSize, datasetSize: size,
            filename: attributes.filename, mimetype: attributes.mimetype)
        let manifestCID = CID.make(codec: CodexCodec.manifest, digest: Array(SHA256.hash(data: manifest)))
        return CodexDatasetAddress(manifestCID: manifestCID, treeCID: treeCID, datasetSize: size, blockSize: blockSize)
    }

    /// Hashes the current block, zero-padded to `blockSize` (the node pads the last block).
    private mutating func closeBlock() {
        if block.count < blockSize { block.append(contentsOf: repeatElement(0, count: blockSize - block.count)) }
        leaves.append(Array(SHA256.hash(data: block)))
        block.removeAll(keepingCapacity: true)
    }
}

/// What a Codex node puts in a manifest besides the data: the upload's name and type.
public struct CodexUploadAttributes: Sendable, Hashable, Codable {
    public var filename: String?
    public var mimetype: String?

    public init(filename: String?, mimetype: String?) {
        self.filename = filename
        self.mimetype = mimetype
    }

    /// What status-go uploads every archive and index as (`UploadArchive` → `archive-data.bin`;
    /// the node derives `application/octet-stream` from `.bin`).
    public static let statusArchive = CodexUploadAttributes(filename: "archive-data.bin", mimetype: "application/octet-stream")
}

/// The result of hashing a dataset the way a Codex node does.
public struct CodexDatasetAddress: Sendable, Hashable {
    /// What the node's `POST /data` answers and what indexes and announcements name.
    public let manifestCID: CID
    /// The Merkle root of the blocks (codec 0xCD03, `zDz…`), as in the manifest JSON's `treeCid`.
    public let treeCID: CID
    /// Unpadded byte count.
    public let datasetSize: Int64
    public let blockSize: Int
}

public enum CodexDatasetError: Error, Equatable, CustomStringConvertible {
    case empty

    public var description: String {
        switch self {
        case .empty: return "an empty file has no Codex CID (a Codex node refuses an empty upload)"
        }
    }
}

extension CID {
    /// The Codex manifest CID of `bytes` uploaded with `attributes`.
    public static func codex(of bytes: some Collection<UInt8>, _ attributes: CodexUploadAttributes = .statusArchive,
                             blockSize: Int = CodexDatasetHasher.defaultBlockSize) throws -> CodexDatasetAddress {
        var hasher = CodexDatasetHasher(blockSize: blockSize)
        hasher.update(bytes)
        return try hasher.finish(attributes)
    }

    /// A CIDv1 with a sha2-256 multihash of `digest`.
    static func make(codec: UInt64, digest: [UInt8]) -> CID {
        let bytes = binaryCIDv1(codec: codec, digest: digest)
        // A CID built from a 32-byte digest always parses.
        return try! CID("z" + Base58.encode(bytes))
    }

    /// `varint(1) ‖ varint(codec) ‖ varint(0x12) ‖ varint(32) ‖ digest` (nim-libp2p `cid.nim:228-239`).
    static func binaryCIDv1(codec: UInt64, digest: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [1]
        Varint.encode(codec, into: &bytes)
        Varint.encode(sha256Code, into: &bytes)
        Varint.encode(UInt64(digest.count), into: &bytes)
        return bytes + digest
    }
}

/// Multicodec codes of Codex's own content types (`codex/multicodec_exts.nim:5-7`).
public enum CodexCodec {
    public static let manifest: UInt64 = 0xcd01
    public static let block: UInt64 = 0xcd02
    public static let datasetRoot: UInt64 = 0xcd03
}
