import ArchiveImport
import CodexClient
import Foundation
import ControlNode
import HistoryStore
import StatusCrypto
import StatusWire
import Testing
@testable import SyncEngine

/// Issue 22, item 2: an import's failure is one typed value, carried unchanged from the
/// importer through the driver's effects to the machine and the `archive.failed` event; what
/// becomes of the file and of the archive follows from it, never from its text.
@Suite(.timeLimit(.minutes(5))) struct ImportFailureTravelTests {
    let community = DemoCommunity(seed: 5, memberCount: 2, channelNames: ["general"])
    /// Bytes that are no archive: protobuf field 1 (metadata) claims more bytes than follow.
    let notAnArchive: [UInt8] = [0x0A, 0x7F, 0x01, 0x02]

    struct Setup {
        let effects: LiveSyncEffects
        let database: HistoryDatabase
        let events: EventRecorder
        let file: URL
        let entry: ArchiveIndexEntry
    }

    /// A downloaded file holding `bytes`, recorded as an archive whose CID is `cidOf`'s.
    func setup(bytes: [UInt8], cidOf: [UInt8]) async throws -> Setup {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("travel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = try HistoryDatabase(path: directory.appendingPathComponent("history.sqlite").path)
        let entry = ArchiveIndexEntry(id: ArchiveID(hashing: cidOf), cid: try CID.codex(of: cidOf).manifestCID,
                                      from: 1_700_000_000, to: 1_700_604_800, contentTopics: community.channels.map(\.topic))
        let file = directory.appendingPathComponent(entry.cid.string)
        try Data(bytes).write(to: file)
        try await database.recordDownloaded(DownloadedArchiveRecord(entry, communityID: community.communityID.string, path: file.path))
        let events = EventRecorder()
        let effects = LiveSyncEffects(
            communityID: community.communityID, database: database, codex: CodexClient(baseURL: URL(string: "http://127.0.0.1:9")!),
            archivesDirectory: directory, onEvent: events.record)
        return Setup(effects: effects, database: database, events: events, file: file, entry: entry)
    }

    func failure(of setup: Setup) async -> ArchiveFailure? {
        guard case .failed(let failure) = await setup.effects.importArchive(DownloadedArchive(entry: setup.entry, path: setup.file.path), verified: {}) else {
            return nil
        }
        return failure
    }

    func reported(_ setup: Setup) -> [ArchiveFailure] {
        setup.events.all.compactMap { if case .archiveFailed(_, let failure) = $0 { return failure } else { return nil } }
    }

    /// Bytes that are what the CID names and are no archive: rejected, with what they proved
    /// to be; the same value reaches the event; the archive is remembered as bad and its file goes.
    @Test func bytesProvedBadAreRejectedWithTheirReasonEndToEnd() async throws {
        let setup = try await setup(bytes: notAnArchive, cidOf: notAnArchive)
        let failure = try #require(await failure(of: setup))
        #expect(failure.kind == .rejected && failure.step == .import)
        #expect(failure.rejection == .truncated || failure.rejection == .malformed, "\(failure)")
        #expect(reported(setup) == [failure])
        #expect(try setup.database.rejectedArchives(communityID: community.communityID.string,
                                                    decoderRevision: ArchiveImporter.decoderRevision)[setup.entry.id.string] != nil)
        #expect(!FileManager.default.fileExists(atPath: setup.file.path))
    }

    /// The same bytes under another archive's CID (damaged on disk since the download): not a
    /// rejection; the download is forgotten so the archive is downloaded again.
    @Test func bytesThatAreNotTheCIDsAreDownloadedAgainNotRejected() async throws {
        let setup = try await setup(bytes: notAnArchive, cidOf: Array("some other archive".utf8))
        let failure = try #require(await failure(of: setup))
        #expect(failure.kind == .unreadableFile && failure.rejection == nil && failure.kind.isRetryable)
        #expect(reported(setup) == [failure])
        #expect(try setup.database.rejectedArchives(communityID: community.communityID.string,
                                                    decoderRevision: ArchiveImporter.decoderRevision).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: setup.file.path))
    }
}
