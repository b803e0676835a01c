import Foundation
import HistoryStore
import StatusCrypto
import StatusWire

/// Opens the encrypted messages that imported archives hold for keys now in the key ring,
/// verifies them as an import does, and stores them as their archives' messages, one
/// transaction per archive (`HistoryDatabase.releaseHeld`). What `keys import`, `sync` and the
/// agent run when keys arrive: nothing is downloaded again.
///
/// ```swift
/// let released = try HeldMessageRelease(database: database, keys: ring).run()
/// print(released.stored)
/// ```
public struct HeldMessageRelease: Sendable {
    public struct Result: Sendable, Equatable {
        public var archives = 0
        /// Messages stored (new, or replacing a local copy).
        public var stored = 0
        /// Held messages that opened but did not verify, or did not open, by reason: no longer held.
        public var rejected: [String: Int] = [:]

        public init() {}
    }

    public let database: HistoryDatabase
    /// Held messages of keys the ring does not hold stay held.
    public let keys: any HashRatchetKeyring
    public let communityID: String?

    public init(database: HistoryDatabase, keys: any HashRatchetKeyring, communityID: String? = nil) {
        self.database = database
        self.keys = keys
        self.communityID = communityID
    }

    /// Throws a GRDB `DatabaseError` when the database cannot be read or written; archives
    /// released before the failure stay released.
    public func run() throws -> Result {
        var result = Result()
        for archive in try database.heldArchives(keyIDs: keys.keyIDs, communityID: communityID) {
            let community = try CommunityID(archive.communityID)
            var unwrapper = ArchivedMessageUnwrapper(communityKey: community.publicKey, keys: keys)
            var messages: [StoredMessage] = []
            var released: [String] = []
            var rejected: [String: Int] = [:]
            for held in archive.messages {
                guard let entry = try? WireArchivedWakuMessage(serializedBytes: held.entry) else {
                    rejected[RejectionReason.undecodablePayload.rawValue, default: 0] += 1
                    released.append(held.entryID)
                    continue
                }
                switch unwrapper.unwrap(entry) {
                case .message(let message) where !(archive.from..<archive.to).contains(message.timestamp):
                    rejected[RejectionReason.outsideArchiveRange.rawValue, default: 0] += 1
                    released.append(held.entryID)
                case .message(let message):
                    var stored = StoredMessage(archived: message, communityID: community)
                    stored.archiveID = archive.archiveID
                    messages.append(stored)
                    released.append(held.entryID)
                case .rejected(.encryptedKeyUnavailable):
                    continue  // still not held (another key of the group): stays held
                case .rejected(let reason):
                    rejected[reason.rawValue, default: 0] += 1
                    released.append(held.entryID)
                case .pending:
                    continue  // not a segment: held messages are whole
                }
            }
            guard !released.isEmpty else { continue }
            let counts = try database.releaseHeld(archive, messages: messages, released: released, rejected: rejected)
            result.archives += 1
            result.stored += counts.stored + counts.replaced
            result.rejected.merge(rejected, uniquingKeysWith: +)
        }
        return result
    }
}
