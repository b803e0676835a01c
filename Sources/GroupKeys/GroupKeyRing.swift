import StatusCrypto
import Synchronization

/// The stored group keys as the import asks for them: by key ID, ratcheted to a message's
/// sequence number. Messages of one key come with growing sequence numbers, each key being
/// keccak256 of the one before: the ring keeps every 1,000th message key it has computed, so a
/// message costs at most 999 hashes rather than as many as its sequence number. A sequence
/// number more than `HashRatchet.maxSequenceGap` past the furthest a key has been ratcheted
/// to is refused, as status-go refuses it: one message cannot make the import hash for hours.
/// Shared by the verification threads (a lock guards the checkpoints).
///
/// ```swift
/// let ring = GroupKeyRing(try GroupKeyStore(path: "history.sqlite.keys").load())
/// let key = ring.messageKey(keyID: header.keyID, sequenceNumber: header.seqNo)
/// ```
public final class GroupKeyRing: HashRatchetKeyring {
    static let checkpointEvery: UInt32 = 1_000
    private let keys: [[UInt8]: [UInt8]]
    /// keyID → (sequence number / checkpointEvery) → message key.
    private let checkpoints = Mutex<[[UInt8]: [UInt32: [UInt8]]]>([:])

    /// The most a sequence number may be past the furthest a key has been ratcheted to.
    let maxGap: UInt32

    /// `maxGap`: status-go's by default; tests use a small one (the rule, not the number, is tested).
    public init(_ keys: [GroupKey], maxGap: UInt32 = HashRatchet.maxSequenceGap) {
        self.keys = Dictionary(keys.map { ($0.keyID, $0.key) }, uniquingKeysWith: { first, _ in first })
        self.maxGap = maxGap
    }

    public var isEmpty: Bool { keys.isEmpty }

    public var keyIDs: Set<String> { Set(keys.keys.map { Hex.encode($0, prefixed: true) }) }

    /// Whether the ring holds the group key `keyID` names.
    public func holds(keyID: [UInt8]) -> Bool { keys[keyID] != nil }

    public func messageKey(keyID: [UInt8], sequenceNumber: UInt32) -> HashRatchetKeyLookup {
        messageKey(keyID: keyID, sequenceNumber: sequenceNumber, checkingGap: true)
    }

    public func messageKey(keyID: [UInt8], sequenceNumber: UInt32, checkingGap: Bool) -> HashRatchetKeyLookup {
        guard let groupKey = keys[keyID] else { return .notHeld }
        let slot = sequenceNumber / Self.checkpointEvery
        // The nearest checkpoint at or below the slot (the group key itself is slot 0), and
        // how far the key has been ratcheted so far.
        let (start, furthest): ((UInt32, [UInt8]), UInt32) = checkpoints.withLock { all in
            let known = all[keyID] ?? [:]
            let furthest = (known.keys.max() ?? 0) * Self.checkpointEvery
            if let exact = known[slot] { return ((slot * Self.checkpointEvery, exact), furthest) }
            let below = known.keys.filter { $0 < slot }.max()
            return (below.map { ($0 * Self.checkpointEvery, known[$0]!) } ?? (0, groupKey), furthest)
        }
        guard !checkingGap || sequenceNumber <= furthest + maxGap else { return .tooFar }
        var (from, key) = start
        var newCheckpoints: [UInt32: [UInt8]] = [:]
        while from < sequenceNumber {
            key = Keccak256.hash(key)
            from += 1
            if from % Self.checkpointEvery == 0 { newCheckpoints[from / Self.checkpointEvery] = key }
        }
        if !newCheckpoints.isEmpty {
            checkpoints.withLock { $0[keyID, default: [:]].merge(newCheckpoints) { old, _ in old } }
        }
        return .key(key)
    }
}
