/// The ways a storage node (Logos Storage, formerly Codex) has written the manifest protobuf
/// whose SHA-256 is a dataset's CID. The Merkle tree of the data is the same in all of them;
/// only the header's field numbers differ, so the same bytes uploaded with the same filename
/// get a different CID from a node of each generation.
///
/// | layout | written by | header fields |
/// |---|---|---|
/// | `codex2025` | nim-codex up to late 2025 (`codex/manifest/coders.nim`) | 1 treeCid, 2 blockSize, 3 datasetSize, 4 codec, 5 hcodec, 6 version, 8 filename, 9 mimetype |
/// | `storage2026January` | logos-storage-nim from about 2026-01 (go-bindings commit `6d70390`, v0.3.2) | 1-6 as above, 7 filename, 8 mimetype |
/// | `storageV0` | logos-storage-nim master (`storage/manifest/coders.nim`) | 1 manifestVersion (0), then 2-9 as `storage2026January`'s 1-8 |
///
/// ```swift
/// let address = try CID.codex(of: bytes)                 // hashes the tree once
/// address.layout(matching: askedFor)                      // .storage2026January, or nil
/// address.manifestCID(.codex2025)                         // what a 2025 node answers
/// ```
/// `allCases` is oldest first.
public enum CodexManifestLayout: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case codex2025 = "2025"
    case storage2026January = "2026-01"
    case storageV0 = "v0"

    /// The layout of the node a member runs today (a released Logos Storage, and the one
    /// status-go embeds through its go-bindings): what `codex-cid` prints and the control-node
    /// tool writes unless told otherwise. `storageV0` is only on logos-storage-nim's master
    /// branch and has no published vector yet.
    public static let current: CodexManifestLayout = .storage2026January

    public var description: String { rawValue }

    /// The manifest protobuf of a plain upload, byte for byte as a node of this generation
    /// writes it (nim-libp2p minprotobuf: every scalar field is written, zero or not).
    func encode(treeCID: CID, blockSize: Int, datasetSize: Int64, filename: String?, mimetype: String?) -> [UInt8] {
        // Fields move up by one when the header starts with manifestVersion.
        let shift: UInt64 = self == .storageV0 ? 1 : 0
        var header = ProtobufBytes()
        if self == .storageV0 { header.field(1, varint: 0) }  // manifestVersion; decode refuses anything else
        header.field(1 + shift, bytes: CID.binaryCIDv1(codec: treeCID.codec, digest: treeCID.digest))
        header.field(2 + shift, varint: UInt64(blockSize))
        header.field(3 + shift, varint: UInt64(datasetSize))
        header.field(4 + shift, varint: CodexCodec.block)
        header.field(5 + shift, varint: CID.sha256Code)
        header.field(6 + shift, varint: Self.cidVersionOrdinal)
        // The 2025 layout kept 7 for erasure coding (protected manifests, which uploads never are).
        let filenameField: UInt64 = self == .codex2025 ? 8 : 7 + shift
        if let filename { header.field(filenameField, bytes: Array(filename.utf8)) }
        if let mimetype { header.field(filenameField + 1, bytes: Array(mimetype.utf8)) }
        var outer = ProtobufBytes()
        outer.field(1, bytes: header.bytes)
        return outer.bytes
    }

    /// nim-libp2p's `CidVersion` enum ordinal for CIDv1 (`libp2p/cid.nim:22-26`): the manifest
    /// stores 2, not 1.
    static let cidVersionOrdinal: UInt64 = 2
}

/// Just enough protobuf writing for a manifest: varint and length-delimited fields, in the order given.
struct ProtobufBytes {
    private(set) var bytes: [UInt8] = []

    mutating func field(_ number: UInt64, varint value: UInt64) {
        Varint.encode(number << 3, into: &bytes)
        Varint.encode(value, into: &bytes)
    }

    mutating func field(_ number: UInt64, bytes value: [UInt8]) {
        Varint.encode(number << 3 | 2, into: &bytes)
        Varint.encode(UInt64(value.count), into: &bytes)
        bytes += value
    }
}
