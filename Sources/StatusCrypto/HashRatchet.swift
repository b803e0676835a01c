/// Hash-ratchet key derivation (status-go `encryptor.go`), for encrypted communities:
/// the key for message `n` is keccak256 applied `n` times to the 32-byte group key, and a
/// key is named by `keccak256(groupID || uint64_le(timestampMillis) || key)`.
///
/// The agent cannot run the key exchange (keys arrive X3DH-encrypted to each member): the chat
/// client hands the group keys over (`keys import`), and a `HashRatchetKeyring` serves them.
public enum HashRatchet {
    /// status-go refuses a sequence number this far past what it has seen
    /// (`maxHashRatchetSeqNoDelta`, encryptor.go); here it bounds the work one message may cost.
    public static let maxSequenceNumber: UInt32 = 100_000

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

/// The group keys the member holds, by key ID, and the message keys they ratchet to.
public protocol HashRatchetKeyring: Sendable {
    /// The key for message `sequenceNumber` of the group key `keyID`, nil when that key is not held.
    func messageKey(keyID: [UInt8], sequenceNumber: UInt32) -> [UInt8]?
}
