import Fixtures
import Foundation
import HistoryStore
import Logging
import StatusCrypto
import StatusWire

/// Runs the whole offline pipeline over a fixture directory: read the index, then decode,
/// verify and hydrate every archive not yet imported.
///
/// ```swift
/// let fixture = try FixtureDirectory(url: URL(fileURLWithPath: "Fixtures/demo-community"))
/// let report = try await Replay(fixture: fixture, database: database).run()
/// print(report.text)
/// ```
public struct Replay {
    public let fixture: FixtureDirectory
    public let database: HistoryDatabase
    public var options: ArchiveImportOptions
    public var logger: Logger

    public init(fixture: FixtureDirectory, database: HistoryDatabase, options: ArchiveImportOptions = .init(),
                logger: Logger = Logger(label: "community-history.replay")) {
        self.fixture = fixture
        self.database = database
        self.options = options
        self.logger = logger
    }

    public func run() async throws -> ReplayReport {
        let importer = ArchiveImporter(database: database, communityID: fixture.manifest.communityID)
        database.removeAbandonedStagingFiles()
        // The store keys rows by the canonical spelling.
        let communityID = importer.communityID.string
        let (indexCID, index) = try fixture.readIndex(limits: options.limits, keys: options.keys)
        var report = ReplayReport(communityID: communityID, indexCID: indexCID.string, mode: options.mode)
        report.archives.listed = index.entries.count + index.rejected.count

        // A new database gets the chat client's live copies first, so the replay shows
        // archives replacing and removing them.
        if try database.messageCount(communityID: communityID) == 0,
           try database.importedArchiveIDs(communityID: communityID).isEmpty {
            let local = try fixture.localMessages()
            try await database.insertLocalMessages(local)
            report.localMessagesSeeded = local.count
        }

        // Encrypted messages earlier replays held for keys now held: stored as their archives'.
        if let keys = options.keys {
            let released = try await HeldMessageRelease(database: database, keys: keys, communityID: communityID).run()
            if released.archives > 0 {
                logger.info("held messages released", metadata: ["archives": "\(released.archives)",
                                                                "stored": "\(released.stored + released.replaced)"])
            }
        }

        var state = try database.indexState(communityID: communityID)
            ?? CommunityIndexState(communityID: communityID, indexCID: nil, indexClock: 0, processedIndexCID: nil)
        state.indexCID = indexCID.string
        try database.saveIndexState(state)
        try await database.saveIndexEntries(communityID: communityID, indexCID: indexCID.string, entries: index.entries.map {
            IndexEntryRecord(archiveID: $0.id.string, cid: $0.cid.string, from: $0.from, to: $0.to)
        })

        for bad in index.rejected {
            report.archives.rejected.append(.init(id: bad.key, reason: "index entry rejected: \(bad.reason)"))
        }
        let imported = try database.importedArchiveIDs(communityID: communityID)
        // Whether an archive of the index was not imported (rejected or waiting for a key): the
        // index is then not marked processed. Rejected index entries do not count: no replay
        // can import them.
        var archiveLeftOut = false
        // Newest first, as the sync agent downloads them.
        for entry in index.entries.reversed() {
            if imported.contains(entry.id.string) && !options.force {
                report.archives.skipped += 1
                continue
            }
            do {
                let path = try fixture.verifiedBlobPath(entry.cid)
                let result = try await importer.importArchive(entry, path: path, options: options)
                logger.info("imported archive", metadata: [
                    "archive": "\(entry.id)", "stored": "\(result.counts.stored)",
                    "replaced": "\(result.counts.replaced)", "removed": "\(result.counts.removed)",
                ])
                report.archives.imported += 1
                report.messages.stored += result.counts.stored
                report.messages.replaced += result.counts.replaced
                report.messages.unchanged += result.counts.unchanged
                report.messages.removed += result.counts.removed
                for (reason, count) in result.rejected { report.messages.rejected[reason.rawValue, default: 0] += count }
                report.results.append(result)
            } catch let failure as ArchiveImportFailure {
                switch failure {
                case .alreadyImported:
                    report.archives.skipped += 1
                case .waitingForKey(let key):
                    logger.info("archive waits for a key", metadata: ["archive": "\(entry.id)", "keyID": "\(key.keyID)"])
                    // Reported, not recorded: a key wait in the database stands for a kept download
                    // (sync's), and a replay's archive is the fixture's blob.
                    report.archives.waitingForKey.append(.init(id: entry.id.string, groupID: key.groupID, keyID: key.keyID))
                    archiveLeftOut = true
                case .rejected(_, let detail), .overLimit(let detail):
                    logger.warning("archive rejected", metadata: ["archive": "\(entry.id)", "reason": "\(detail)"])
                    report.archives.rejected.append(.init(id: entry.id.string, reason: detail))
                    archiveLeftOut = true
                case .unreadableFile, .localResources, .database, .cancelled:
                    // This machine could not read the blob (open files, memory, permissions), the
                    // database refused, or the replay was stopped: that says nothing of the
                    // archive, so it is not reported as rejected; the replay fails.
                    throw failure
                }
            } catch let error as FixtureError {
                report.archives.rejected.append(.init(id: entry.id.string, reason: error.description))
                archiveLeftOut = true
            }
        }
        report.archives.rejected.sort { $0.id < $1.id }
        report.archives.waitingForKey.sort { $0.id < $1.id }

        if !archiveLeftOut {
            state.processedIndexCID = indexCID.string
            try database.saveIndexState(state)
        }
        report.database.messageCount = try database.messageCount(communityID: communityID)
        report.database.digest = try database.messageDigest(communityID: communityID)
        return report
    }
}
