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
/// let released = try await HeldMessageRelease(database: database, keys: ring).run()
/// print(released.stored)
/// ```
public struct HeldMessageRelease: Sendable {
    public struct Result: Sendable, Equatable {
        public var archives = 0
        /// New messages.
        public var stored = 0
        /// Local copies replaced by the archive's version.
        public var replaced = 0
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
    /// released before the failure stay released. Runs off Swift's cooperative pool (it reads
    /// and writes the database).
    public func run() async throws -> Result {
        try await offCooperativePool { try self.release() }
    }

    private func release() throws -> Result {
        var result = Result()
        for archive in try database.heldArchives(keyIDs: keys.keyIDs, communityID: communityID) {
            let community = try CommunityID(archive.communityID)
            var unwrapper = ArchivedMessageUnwrapper(communityKey: community.publicKey, keys: keys)
            var opened: [(entryID: String, outcome: HistoryDatabase.Opened)] = []
            for held in archive.messages {
                guard let entry = try? WireArchivedWakuMessage(serializedBytes: held.entry) else {
                    opened.append((held.entryID, .rejected(reason: RejectionReason.undecodablePayload.rawValue)))
                    continue
                }
                switch unwrapper.unwrap(entry) {
                case .message(let message) where !(archive.from..<archive.to).contains(message.timestamp):
                    opened.append((held.entryID, .rejected(reason: RejectionReason.outsideArchiveRange.rawValue)))
                case .message(let message):
                    var stored = StoredMessage(archived: message, communityID: community)
                    stored.archiveID = archive.archiveID
                    opened.append((held.entryID, .message(stored)))
                case .rejected(.encryptedKeyUnavailable):
                    continue  // still not held (another key of the group): stays held
                case .rejected(let reason):
                    opened.append((held.entryID, .rejected(reason: reason.rawValue)))
                case .pending:
                    continue  // not a segment: held messages are whole
                }
            }
            guard !opened.isEmpty else { continue }
            let counts = try database.releaseHeld(archive, opened: opened)
            guard counts.stored + counts.replaced > 0 || !counts.rejected.isEmpty else { continue }
            result.archives += 1
            result.stored += counts.stored
            result.replaced += counts.replaced
            result.rejected.merge(counts.rejected, uniquingKeysWith: +)
        }
        return result
    }
}

/// Runs blocking work (file reads, database writes) on a Dispatch thread and awaits it, so a
/// thread of Swift's cooperative pool is not held meanwhile.
func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Swift.Result { try work() }) }
    }
}
