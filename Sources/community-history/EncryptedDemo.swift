import ArchiveImport
import ArgumentParser
import CodexClient
import ControlNode
import Foundation
import GroupKeys
import HistoryStore
import OneShot
import SyncEngine
import WakuClient

/// `demo --encrypted`: an encrypted community synced three times, as a member whose chat client
/// hands over its keys late. First with no key (the index waits), then with the community's
/// newest key only (the index and the newer archives open; the older ones are downloaded and
/// wait; the `#dev` channel's encrypted messages are held for the channel's key), then with
/// every key (the waiting archives import from their kept files and the held messages are
/// stored: nothing is downloaded again).
extension DemoCommand {
    func runEncrypted(fixture: URL, options: OneShotSync.Options, waku: WakuClient, codex: CodexClient,
                      database: HistoryDatabase, progress: ProgressPrinter) async throws {
        let keysFile = fixture.appendingPathComponent(EncryptedFixtureGenerator.keysFile)
        let keys: [GroupKey]
        do { keys = try GroupKeyStore.parseImport(try Data(contentsOf: keysFile)) } catch {
            printError("\(keysFile.path): \(error)")
            throw Exit.badInput
        }
        let store = GroupKeyStore(path: db + ".keys")
        let steps: [(title: String, keys: [GroupKey])] = [
            ("1/3: no key yet: the index is encrypted, so it waits for its key", []),
            ("2/3: the chat client hands over the community's newest key (`keys import`)", [keys[1]]),
            ("3/3: and the older key and #dev's: the waiting archives import from their kept downloads, the held messages are stored", keys),
        ]
        for step in steps {
            progress.line("encrypted demo, step \(step.title)")
            if !step.keys.isEmpty {
                let added = try store.add(step.keys).added
                progress.line("keys import: \(added) key(s) added to \(store.path) "
                              + "(as `community-history keys import \(keysFile.path) --db \(db)` does with the fixture's keys)")
            }
            var stepOptions = options
            stepOptions.keys = try KeysCommand.keyring(forDatabase: db)
            do {
                try await SyncCommand.runSync(options: stepOptions, waku: waku, codex: codex, database: database, json: json, progress: progress)
            } catch let exit as ExitCode where exit == Exit.partialFailure && step.keys.isEmpty {
                // Expected: the index waits for its key, and nothing was downloaded or retried.
            }
        }
        if !json {
            progress.line("read it: community-history messages --community \(options.communityID) --db \(db) --limit 20")
        }
    }

    /// The encrypted demo's own database and keys (never the user's history) start empty, so
    /// every run shows the same three steps.
    func startOverEncryptedDemo() throws {
        let leftovers = ["", "-wal", "-shm", ".keys", ".keys.lock"].map { db + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
        for path in leftovers { try FileManager.default.removeItem(atPath: path) }
        if !leftovers.isEmpty && !json && !logging.quiet {
            print("starting over: removed the previous encrypted demo's database and keys (\(db))")
        }
    }
}
