import Crypto
import Foundation

/// The deterministic 14/WAKU2 message hash that store nodes index by:
/// `sha256(pubsubTopic || payload || contentTopic || meta || int64_be(timestamp))`.
public enum WakuMessageHash {
    public static func compute(pubsubTopic: String, message: WireWaku2Message) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array(pubsubTopic.utf8))
        hasher.update(data: message.payload)
        hasher.update(data: Array(message.contentTopic.utf8))
        hasher.update(data: message.meta)
        hasher.update(data: (0..<8).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: message.timestamp) >> (8 * (7 - $0))) })
        return Array(hasher.finalize())
    }
}
