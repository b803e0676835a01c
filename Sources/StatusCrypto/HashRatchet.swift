/// Hash-ratchet key derivation (status-go `encryptor.go`), for encrypted communities:
/// the key for message `n` is keccak256 applied `n` times to the 32-byte group key, and a
/// key is named by `keccak256(groupID || uint64_le(timestampMillis) || key)`.
///
/// The agent cannot run the key exchange (keys arrive X3DH-encrypted to each member): the chat
/// client hands the group keys over (`keys import`), and a `HashRatchetKeyring` serves them.
public enum HashRatchet {
    /// status-go refuses a sequence number more than this past the last one it saw of a key
    /// (`maxHashRatchetSeqNoDelta`, encryptor.go): it bounds the hashing one message may cost.
    public static let maxSequenceGap: UInt32 = 100_000

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

/// What a keyring answers for a message's key.
public enum HashRatchetKeyLookup: Sendable, Equatable {
    case key([UInt8])
    /// The member does not hold the group key `keyID` names.
    case notHeld
    /// Held, but the sequence number is more than `HashRatchet.maxSequenceGap` past the
    /// furthest this key has been ratcheted to (status-go refuses such a message too).
    case tooFar
}

/// The group keys the member holds, by key ID, and the message keys they ratchet to.
public protocol HashRatchetKeyring: Sendable {
    /// The key for message `sequenceNumber` of the group key `keyID`.
    func messageKey(keyID: [UInt8], sequenceNumber: UInt32) -> HashRatchetKeyLookup
    /// The same, with or without status-go's sequence-gap rule. Whole archives and indexes are
    /// opened without it: a busy control node's key may be far along by the time it seals an
    /// archive (whose download costs more than the hashing), and refusing it would lose the archive.
    func messageKey(keyID: [UInt8], sequenceNumber: UInt32, checkingGap: Bool) -> HashRatchetKeyLookup
    /// The key IDs held (`0x` hex): which held messages a ring can open.
    var keyIDs: Set<String> { get }
}

extension HashRatchetKeyring {
    public var keyIDs: Set<String> { [] }

    public func messageKey(keyID: [UInt8], sequenceNumber: UInt32, checkingGap: Bool) -> HashRatchetKeyLookup {
        messageKey(keyID: keyID, sequenceNumber: sequenceNumber)
    }
}
