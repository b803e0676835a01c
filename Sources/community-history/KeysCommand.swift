import ArchiveImport
import ArgumentParser
import Foundation
import HistoryStore
import GroupKeys
import StatusCrypto

/// `keys import FILE`, `keys list`: the hash-ratchet keys of encrypted communities, which the
/// chat client holds (they reach members X3DH-encrypted, which this agent cannot open).
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Import and list the hash-ratchet keys of encrypted communities (from the chat client).",
        discussion: """
            Keys are kept in <database>.keys (mode 0600), apart from the history; their bytes are \
            never printed, logged or sent in events.
            """,
        subcommands: [Import.self, List.self]
    )

    static func store(_ database: DatabaseOption) -> GroupKeyStore { GroupKeyStore(path: database.path + ".keys") }

    /// The keys stored beside `databasePath`, for an import; nil when there are none. A store
    /// that does not read is an error (exit 3), not "no keys": encrypted messages would be
    /// reported as missing their key when the key is there.
    static func keyring(forDatabase databasePath: String) throws -> GroupKeyRing? {
        do {
            let keys = try GroupKeyStore(path: databasePath + ".keys").load()
            return keys.isEmpty ? nil : GroupKeyRing(keys)
        } catch {
            printError("\(error)")
            throw Exit.badInput
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Add keys from a file of JSON lines: {\"groupID\": hex, \"timestamp\": ms, \"key\": hex (32 bytes), \"keyID\": hex (optional, checked)}.",
            discussion: """
                groupID is the community ID (its hex) for a community's key, or the hex of a channel's \
                UTF-8 chat ID for a channel's. All lines or none: a bad line stores nothing and names the \
                line. Keys already stored are skipped.
                """
        )

        @Argument(help: "The file of keys (JSON lines).")
        var file: String

        @OptionGroup var database: DatabaseOption

        @Flag(help: "Print JSON.")
        var json = false

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                printError("cannot read \(file)")
                throw Exit.badInput
            }
            let store = KeysCommand.store(database)
            let result: (added: Int, known: Int)
            do {
                try DefaultPaths.prepareForWriting(database.path)
                result = try store.add(try GroupKeyStore.parseImport(data))
            } catch let error as GroupKeyError {
                printError("\(file): \(error) (nothing was imported)")
                throw Exit.badInput
            } catch {
                printError("\(error) (nothing was imported)")
                throw Exit.databaseError
            }
            // Encrypted messages imported archives held for these keys: stored now, unless a sync
            // or the agent holds the database (the agent takes keys through POST /v1/keys).
            var released = HeldMessageRelease.Result()
            var releaseNote: String?
            if FileManager.default.fileExists(atPath: database.path) {
                do {
                    let lock = try SyncLock(databasePath: database.path, command: "keys import")
                    defer { lock.release() }
                    released = try await HeldMessageRelease(database: try HistoryDatabase(path: database.path), keys: GroupKeyRing(try store.load())).run()
                } catch let error as SyncLockError {
                    releaseNote = "held messages not stored now (\(error)); the next sync stores them, or send the keys to the agent: POST /v1/keys"
                } catch {
                    printError("the keys are imported; storing the messages held for them failed: \(error)")
                    throw Exit.databaseError
                }
            }
            // What waits for a key the store now holds: the next sync imports it.
            let held = Set(((try? store.load()) ?? []).map { Hex.encode($0.keyID, prefixed: true) })
            var waits: [KeyWait] = []
            if FileManager.default.fileExists(atPath: database.path) {
                // Advice only: a database that does not read here is read again by sync.
                waits = (try? await HistoryDatabase(path: database.path, readOnly: true).keyWaits()) ?? []
            }
            let unblocked = waits.filter { held.contains($0.keyID) && $0.kind != .messages }
            let communities = Set(unblocked.map(\.communityID)).sorted()
            if json {
                struct Body: Encodable {
                    var schemaVersion = 1; var imported: Int; var alreadyStored: Int; var messagesReleased: Int; var unblocked: [String: [String]]
                }
                print(try ReportJSON.encode(Body(imported: result.added, alreadyStored: result.known, messagesReleased: released.stored + released.replaced,
                                                 unblocked: Dictionary(grouping: unblocked, by: \.communityID).mapValues { $0.map(\.item) })))
            } else {
                print("imported \(result.added) key(s), \(result.known) already stored or repeated, into \(store.path)")
                if released.archives > 0 {
                    print("stored \(released.stored + released.replaced) encrypted message(s) that \(released.archives) imported archive(s) held for these keys (no download)")
                }
                if let releaseNote { print(releaseNote) }
                for community in communities {
                    let items = unblocked.filter { $0.communityID == community }
                    print("\(community): \(items.count) waiting item(s) can now be read: run `community-history sync --community \(community)` "
                          + "(kept downloads are imported, not downloaded again); a running agent takes keys through POST /v1/keys")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Show the stored keys: group, key ID and timestamp (never the key's bytes)."
        )

        @OptionGroup var database: DatabaseOption

        @Flag(help: "Print JSON.")
        var json = false

        struct Listed: Encodable {
            var groupID: String
            var keyID: String
            var timestamp: UInt64
        }

        func run() async throws {
            let keys: [GroupKey]
            do { keys = try KeysCommand.store(database).load() } catch {
                printError("\(error)")
                throw Exit.badInput
            }
            let listed = keys.map { Listed(groupID: Hex.encode($0.groupID, prefixed: true), keyID: Hex.encode($0.keyID, prefixed: true), timestamp: $0.timestampMillis) }
            if json {
                struct Body: Encodable { var schemaVersion = 1; var keys: [Listed] }
                print(try ReportJSON.encode(Body(keys: listed)))
                return
            }
            if listed.isEmpty { print("no keys in \(KeysCommand.store(database).path)") }
            for key in listed {
                let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(key.timestamp) / 1000))
                print("\(key.keyID)  group \(key.groupID)  \(when)")
            }
        }
    }
}
