import Crypto

/// The root of a Codex dataset's SHA-256 Merkle tree (`CodexTree`), from its leaves: the
/// digests of the padded blocks.
///
/// Rules, from nim-codex `codex/merkletree/merkletree.nim:125-153` and
/// `codex/merkletree/codex/codex.nim:34-38, 109-114`:
/// - a pair is compressed as `SHA-256(left ‖ right ‖ key)`, key `0x01` on the bottom (leaf)
///   layer and `0x00` above it;
/// - an odd last node is compressed with 32 zero bytes as its sibling, key `0x03` on the
///   bottom layer and `0x02` above it;
/// - only a layer above the bottom one stops the recursion by having one node, so a
///   single block's root is `SHA-256(leaf ‖ 0³² ‖ 0x03)`, never the leaf itself.
enum CodexMerkleTree {
    private static let keyNone: UInt8 = 0x00
    private static let keyBottomLayer: UInt8 = 0x01
    private static let keyOdd: UInt8 = 0x02
    private static let keyOddAndBottomLayer: UInt8 = 0x03
    private static let zeros = [UInt8](repeating: 0, count: 32)

    static func root(leaves: [[UInt8]]) -> [UInt8] {
        precondition(!leaves.isEmpty, "a Codex tree has at least one leaf")
        var layer = leaves
        var bottom = true
        while bottom || layer.count > 1 {
            var next: [[UInt8]] = []
            next.reserveCapacity((layer.count + 1) / 2)
            var i = 0
            while i < layer.count {
                if i + 1 < layer.count {
                    next.append(compress(layer[i], layer[i + 1], key: bottom ? keyBottomLayer : keyNone))
                } else {
                    next.append(compress(layer[i], zeros, key: bottom ? keyOddAndBottomLayer : keyOdd))
                }
                i += 2
            }
            layer = next
            bottom = false
        }
        return layer[0]
    }

    private static func compress(_ left: [UInt8], _ right: [UInt8], key: UInt8) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: left)
        hasher.update(data: right)
        hasher.update(data: [key])
        return Array(hasher.finalize())
    }
}

/// The manifest protobuf of a plain (not erasure-coded) upload, byte for byte as
/// `Manifest.encode` writes it (nim-codex `codex/manifest/coders.nim:32-107`, nim-libp2p
/// minprotobuf: every scalar is written, zero or not).
enum CodexManifestEncoding {
    /// nim-libp2p's `CidVersion` enum ordinal for CIDv1 (`libp2p/cid.nim:22-26`): the manifest
    /// stores 2, not 1.
    static let cidVersionOrdinal: UInt64 = 2

    static func encode(treeCID: CID, blockSize: Int, datasetSize: Int64, filename: String?, mimetype: String?) -> [UInt8] {
        var header: [UInt8] = []
        field(1, bytes: CID.binaryCIDv1(codec: treeCID.codec, digest: treeCID.digest), into: &header)
        field(2, varint: UInt64(blockSize), into: &header)
        field(3, varint: UInt64(datasetSize), into: &header)
        field(4, varint: CodexCodec.block, into: &header)
        field(5, varint: CID.sha256Code, into: &header)
        field(6, varint: cidVersionOrdinal, into: &header)
        // 7 (erasure coding) only for protected manifests, which uploads never are.
        if let filename { field(8, bytes: Array(filename.utf8), into: &header) }
        if let mimetype { field(9, bytes: Array(mimetype.utf8), into: &header) }
        var outer: [UInt8] = []
        field(1, bytes: header, into: &outer)
        return outer
    }

    private static func field(_ number: UInt64, varint value: UInt64, into out: inout [UInt8]) {
        Varint.encode(number << 3, into: &out)
        Varint.encode(value, into: &out)
    }

    private static func field(_ number: UInt64, bytes: [UInt8], into out: inout [UInt8]) {
        Varint.encode(number << 3 | 2, into: &out)
        Varint.encode(UInt64(bytes.count), into: &out)
        out += bytes
    }
}
