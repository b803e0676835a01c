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
