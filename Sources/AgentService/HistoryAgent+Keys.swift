import ArchiveImport
import GroupKeys
import HistoryStore
import StatusCrypto

extension HistoryAgent {
    /// What `importKeys` did.
    public struct KeysImport: Sendable, Equatable {
        public var added: Int
        /// Keys already held.
        public var known: Int
        /// Encrypted messages imported archives held for these keys, stored now.
        public var messagesReleased: Int
        /// The communities restarted because something of theirs waited for a key.
        public var resumed: [CommunityID]
    }

    /// Adds group keys (from the chat client) to `<database>.keys`, puts them in the ring every
    /// sync reads, and restarts the sync of each followed community with an index or archive
    /// waiting for a key now held: its index is read again and a waiting archive's kept download
    /// is imported (not downloaded again). A community already restarting starts with the keys.
    /// Keys are never logged, nor put in events.
    public func importKeys(_ keys: [GroupKey]) async throws(AgentControlError) -> KeysImport {
        let (database, events) = (context.database, context.events)
        let counts: (added: Int, known: Int)
        do { counts = try GroupKeyStore(path: configuration.databasePath + ".keys").add(keys) } catch { throw .keyStore("\(error)") }
        reloadKeys()
        // Encrypted messages imported archives held for these keys: stored now.
        let released: HeldMessageRelease.Result
        do { released = try await HeldMessageRelease(database: database, keys: context.keys).run() } catch { throw .database("\(error)") }
        if released.archives > 0 {
            events.write(.messagesReleased(archives: released.archives, stored: released.stored, replaced: released.replaced))
        }
        // Whatever was added: a request retried after a failure here resumes them too.
        let waits: [KeyWait]
        do { waits = try await database.keyWaits() } catch { throw .database("\(error)") }
        let ring = context.keys
        let unblocked = Set(waits.filter { wait in (try? Hex.decode(wait.keyID)).map(ring.holds(keyID:)) ?? false }.map(\.communityID))
        let snapshot = roster.snapshot
        var resumed = snapshot.restarting.map(\.communityID).filter { unblocked.contains($0.string) }
        for id in snapshot.followers.map(\.communityID) where unblocked.contains(id.string) && !resumed.contains(id) {
            do { try await rescan(id) } catch {
                // Stopping to start again already: it starts with the keys.
                guard case .busy = error else { throw error }
            }
            resumed.append(id)
        }
        events.write(.keysImported(added: counts.added, known: counts.known, resumed: resumed))
        context.logger.info("group keys imported", metadata: ["added": "\(counts.added)", "known": "\(counts.known)", "resumed": "\(resumed.count)"])
        return KeysImport(added: counts.added, known: counts.known, messagesReleased: released.stored + released.replaced, resumed: resumed)
    }

    /// Reads the group keys stored beside the database (`keys import`, `POST /v1/keys`) into
    /// the ring every community's sync holds: a sync running, or started later, opens what they
    /// open. A store that does not read is logged and reported as a `keys.unreadable` event (its
    /// path and error, never key bytes); the ring stays as it was.
    func reloadKeys() { Self.loadKeys(context) }

    static func loadKeys(_ context: AgentContext) {
        let path = context.configuration.databasePath + ".keys"
        do {
            context.keys.replace(with: GroupKeyRing(try GroupKeyStore(path: path).load()))
        } catch {
            context.logger.error("cannot read the group keys; encrypted messages stay unread", metadata: ["path": "\(path)", "error": "\(error)"])
            context.events.write(.keysUnreadable(path: path, error: "\(error)"))
        }
    }
}
