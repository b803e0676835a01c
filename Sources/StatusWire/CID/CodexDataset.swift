import Crypto

/// How a Codex node addresses an upload, computed here so that a client can check bytes it
/// downloads against the CID it asked for, and the control-node tool can name blobs the way a
/// real node will.
///
/// A Codex node (codex-storage/nim-codex, logos-storage/logos-storage-nim) cuts an
/// upload into `blockSize` blocks (64 KiB), zero-pads the last one (`codex/chunker.nim:52-98`),
/// hashes each with SHA-256, builds a Merkle tree over those digests
/// (`codex/merkletree/merkletree.nim:125-153`), and writes a manifest protobuf that names the tree
/// root, the block size, the unpadded byte count, and the upload's filename and mimetype
/// (`codex/manifest/coders.nim:32-107`). The CID the node returns is the SHA-256 of that manifest,
/// as CIDv1 with the codex-manifest codec 0xCD01. The manifest's field numbers depend on the
/// node's generation (`CodexManifestLayout`); the tree does not, so it is hashed once and the
/// manifest CID of every layout is derived from it.
///
/// ```swift
/// var hasher = CodexDatasetHasher()
/// hasher.update(bytes)                       // as often as bytes arrive
/// let address = try hasher.finish(.statusArchive)
/// address.manifestCID                        // zDvZ…, what `POST /data` answers on a current node
/// address.layout(matching: askedFor)         // which generation's node named it, if any
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

    /// The address of everything passed to `update`, uploaded with `attributes`; its
    /// `manifestCID` is the one a node writing `layout` answers.
    /// Throws `CodexDatasetError.empty` for no bytes: a node refuses an empty upload.
    public func finish(_ attributes: CodexUploadAttributes, layout: CodexManifestLayout = .current) throws -> CodexDatasetAddress {
        var copy = self
        if !copy.block.isEmpty { copy.closeBlock() }
        guard size > 0, !copy.leaves.isEmpty else { throw CodexDatasetError.empty }
        let treeCID = CID.make(codec: CodexCodec.datasetRoot, digest: CodexMerkleTree.root(leaves: copy.leaves))
        return CodexDatasetAddress(treeCID: treeCID, datasetSize: size, blockSize: blockSize, attributes: attributes, layout: layout)
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

/// The result of hashing a dataset the way a storage node does: the tree, and from it the
/// manifest CID in any layout.
public struct CodexDatasetAddress: Sendable, Hashable {
    /// The Merkle root of the blocks (codec 0xCD03, `zDz…`), as in the manifest JSON's `treeCid`.
    /// The same for every node generation.
    public let treeCID: CID
    /// Unpadded byte count.
    public let datasetSize: Int64
    public let blockSize: Int
    public let attributes: CodexUploadAttributes
    /// The layout `manifestCID` is written in.
    public let layout: CodexManifestLayout
    /// What the `POST /data` of a node writing `layout` answers, and what indexes and
    /// announcements name.
    public let manifestCID: CID

    init(treeCID: CID, datasetSize: Int64, blockSize: Int, attributes: CodexUploadAttributes, layout: CodexManifestLayout) {
        self.treeCID = treeCID
        self.datasetSize = datasetSize
        self.blockSize = blockSize
        self.attributes = attributes
        self.layout = layout
        manifestCID = Self.manifestCID(treeCID: treeCID, datasetSize: datasetSize, blockSize: blockSize, attributes: attributes, layout: layout)
    }

    /// The manifest CID a node writing `layout` gives this upload (one SHA-256 of a few bytes).
    public func manifestCID(_ layout: CodexManifestLayout) -> CID {
        layout == self.layout ? manifestCID
            : Self.manifestCID(treeCID: treeCID, datasetSize: datasetSize, blockSize: blockSize, attributes: attributes, layout: layout)
    }

    /// The manifest CID in every known layout, oldest first.
    public var manifestCIDs: [(layout: CodexManifestLayout, cid: CID)] {
        CodexManifestLayout.allCases.map { ($0, manifestCID($0)) }
    }

    /// The layout in which this upload's manifest CID is `cid`; nil when none is (other bytes,
    /// other attributes, or a node of a generation this build does not know). Tries the layout
    /// already computed first, and hashes the others only as needed.
    public func layout(matching cid: CID) -> CodexManifestLayout? {
        if cid == manifestCID { return layout }
        return CodexManifestLayout.allCases.first { $0 != layout && manifestCID($0) == cid }
    }

    private static func manifestCID(treeCID: CID, datasetSize: Int64, blockSize: Int, attributes: CodexUploadAttributes,
                                    layout: CodexManifestLayout) -> CID {
        let manifest = layout.encode(treeCID: treeCID, blockSize: blockSize, datasetSize: datasetSize,
                                     filename: attributes.filename, mimetype: attributes.mimetype)
        return CID.make(codec: CodexCodec.manifest, digest: Array(SHA256.hash(data: manifest)))
    }
}

public enum CodexDatasetError: Error, Equatable, CustomStringConvertible {
    case empty

    public var description: String {
        switch self {
        case .empty: return "an empty file has no CID (a storage node, Logos Storage or Codex, refuses an empty upload)"
        }
    }
}

extension CID {
    /// The address of `bytes` uploaded with `attributes` to a node writing `layout`.
    public static func codex(of bytes: some Collection<UInt8>, _ attributes: CodexUploadAttributes = .statusArchive,
                             blockSize: Int = CodexDatasetHasher.defaultBlockSize,
                             layout: CodexManifestLayout = .current) throws -> CodexDatasetAddress {
        var hasher = CodexDatasetHasher(blockSize: blockSize)
        hasher.update(bytes)
        return try hasher.finish(attributes, layout: layout)
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
