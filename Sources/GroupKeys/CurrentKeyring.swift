import StatusCrypto
import Synchronization

/// The key ring a long-running process reads through: replaced whole when keys are imported,
/// so every sync that holds it (running, or started later) opens what the new keys open. The
/// agent gives each community's sync this one ring.
///
/// ```swift
/// let keys = CurrentKeyring(GroupKeyRing(try store.load()))
/// try store.add(newKeys)
/// keys.replace(with: GroupKeyRing(try store.load()))
/// ```
public final class CurrentKeyring: HashRatchetKeyring {
    private let ring: Mutex<GroupKeyRing>

    public init(_ ring: GroupKeyRing = GroupKeyRing([])) {
        self.ring = Mutex(ring)
    }

    public func replace(with ring: GroupKeyRing) {
        self.ring.withLock { $0 = ring }
    }

    public func messageKey(keyID: [UInt8], sequenceNumber: UInt32) -> HashRatchetKeyLookup {
        ring.withLock { $0 }.messageKey(keyID: keyID, sequenceNumber: sequenceNumber)
    }

    public func messageKey(keyID: [UInt8], sequenceNumber: UInt32, checkingGap: Bool) -> HashRatchetKeyLookup {
        ring.withLock { $0 }.messageKey(keyID: keyID, sequenceNumber: sequenceNumber, checkingGap: checkingGap)
    }

    public var keyIDs: Set<String> { ring.withLock { $0 }.keyIDs }

    public func holds(keyID: [UInt8]) -> Bool {
        ring.withLock { $0 }.holds(keyID: keyID)
    }
}
