/// Hash-ratchet key derivation (status-go `encryptor.go`), for encrypted communities:
/// the key for message `n` is keccak256 applied `n` times to the 32-byte group key, and a
/// key is named by `keccak256(groupID || uint64_le(timestampMillis) || key)`.
///
/// The agent cannot obtain group keys yet (they arrive X3DH-encrypted to each member), so
/// this is used to recognise and test encrypted payloads, not to decrypt them.
public enum HashRatchet {
    public static func messageKey(groupKey: [UInt8], sequenceNumber: Int) -> [UInt8] {
        var key = groupKey
        for _ in 0..<sequenceNumber { key = Keccak256.hash(key) }
        return key
    }

    public static func keyID(groupID: [UInt8], timestampMillis: UInt64, groupKey: [UInt8]) -> [UInt8] {
        var hasher = Keccak256()
        hasher.update(groupID)
        hasher.update((0..<8).map { UInt8(truncatingIfNeeded: timestampMillis >> (8 * $0)) })
        hasher.update(groupKey)
        return hasher.finalize()
    }
}
