import Foundation
import StatusCrypto
import StatusWire
import Testing
@testable import SyncEngine

/// Every rule of the sync machine, with no network and no sleeping.
@Suite struct CommunitySyncMachineTests {
    static let communityKey = try! PrivateKey(bytes: [UInt8](repeating: 0, count: 31) + [1])
    static let forgerKey = try! PrivateKey(bytes: [UInt8](repeating: 0, count: 31) + [2])
    static let communityID = Hex.encode(communityKey.publicKey.compressed, prefixed: true)

    let config = CommunitySyncMachine.Configuration(communityID: communityID, quietWindow: .seconds(20), maxConcurrentDownloads: 3)

    static func cid(_ n: Int) -> CID { (try! CID.codex(of: Array("index \(n)".utf8))).manifestCID }

    static func announcement(clock: UInt64, cid: CID, signer: PrivateKey = communityKey) -> ArchiveAnnouncement {
        ArchiveAnnouncement(clock: clock, indexCID: cid, signer: signer.publicKey, messageType: 43, contentTopic: "/waku/1/0x00000000/rfc26")
    }

    static func entries(_ count: Int) -> [ArchiveIndexEntry] {
        (0..<count).map { week in
            let from = UInt64(1_700_000_000 + week * 604_800)
            return ArchiveIndexEntry(id: String(format: "0x%064x", week), cid: (try! CID.codex(of: [UInt8(week)])).manifestCID,
                                     from: from, to: from + 604_800, contentTopics: [])
        }
    }

    func downloads(_ actions: [SyncAction]) -> [ArchiveIndexEntry] {
        actions.compactMap { if case .download(let entry, _) = $0 { return entry } else { return nil } }
    }

    func imports(_ actions: [SyncAction]) -> [DownloadedArchive] {
        actions.compactMap { if case .importArchive(let archive, _) = $0 { return archive } else { return nil } }
    }

    /// Runs a machine from an accepted announcement to a fetched index.
    func planned(_ machine: inout CommunitySyncMachine, entries: [ArchiveIndexEntry], cid: CID = cid(1), clock: UInt64 = 10) -> [SyncAction] {
        _ = machine.announcementReceived(Self.announcement(clock: clock, cid: cid))
        let fetch = machine.quietWindowElapsed()
        #expect(fetch == [.fetchIndex(cid, generation: machine.generation)])
        return machine.indexFetched(entries, generation: machine.generation)
    }

    // MARK: - Accepting announcements

    @Test func acceptedAnnouncementPersistsTheClockAndArmsTheQuietWindow() {
        var machine = CommunitySyncMachine(configuration: config)
        let actions = machine.announcementReceived(Self.announcement(clock: 100, cid: Self.cid(1)))
        #expect(actions == [.persistAnnouncement(clock: 100, indexCID: Self.cid(1)), .startTimer(.quietWindow, after: .seconds(20))])
        #expect(machine.phase == .settling)
        // Nothing is fetched before the window expires.
        #expect(machine.retryDue().isEmpty)
    }

    @Test func eachAcceptedAnnouncementReArmsTheWindowAndTheNewestWins() {
        var machine = CommunitySyncMachine(configuration: config)
        _ = machine.announcementReceived(Self.announcement(clock: 100, cid: Self.cid(1)))
        let second = machine.announcementReceived(Self.announcement(clock: 200, cid: Self.cid(2)))
        #expect(second.contains(.startTimer(.quietWindow, after: .seconds(20))))
        let third = machine.announcementReceived(Self.announcement(clock: 200, cid: Self.cid(3)))  // equal clock is accepted
        #expect(third.contains(.startTimer(.quietWindow, after: .seconds(20))))
        #expect(machine.quietWindowElapsed() == [.fetchIndex(Self.cid(3), generation: 1)])
    }

    @Test func olderClockIsIgnored() {
        var machine = CommunitySyncMachine(configuration: config, persisted: .init(clock: 500))
        #expect(machine.announcementReceived(Self.announcement(clock: 499, cid: Self.cid(1))) == [.ignored(.olderClock(clock: 499, stored: 500))])
        #expect(machine.phase == .idle)
    }

    @Test func forgedSignerIsIgnored() {
        var machine = CommunitySyncMachine(configuration: config)
        let forged = Self.announcement(clock: 1_000, cid: Self.cid(9), signer: Self.forgerKey)
        #expect(machine.announcementReceived(forged) == [.ignored(.notSignedByCommunity(signer: forged.signerID))])
        #expect(machine.storedClock == 0 && machine.phase == .idle)
    }

    @Test func lastProcessedCIDIsIgnored() {
        var machine = CommunitySyncMachine(configuration: config, persisted: .init(clock: 10, indexCID: Self.cid(1), processedIndexCID: Self.cid(1)))
        #expect(machine.announcementReceived(Self.announcement(clock: 20, cid: Self.cid(1))) == [.ignored(.alreadyProcessed(cid: Self.cid(1).string))])
    }

    @Test func sameCIDDuringWorkDoesNotRestart() {
        var machine = CommunitySyncMachine(configuration: config)
        _ = planned(&machine, entries: Self.entries(5))
        let again = machine.announcementReceived(Self.announcement(clock: 30, cid: Self.cid(1)))
        #expect(again == [.persistAnnouncement(clock: 30, indexCID: Self.cid(1))])
        #expect(machine.phase == .working)
    }

    // MARK: - Planning

    @Test func allPlanDownloadsNewestFirstWithBoundedConcurrency() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(6)
        let actions = planned(&machine, entries: entries)
        #expect(downloads(actions).map(\.id) == [entries[5].id, entries[4].id, entries[3].id])
        // Each completed download starts one more and is imported at once (one at a time).
        let first = machine.downloadFinished(DownloadedArchive(entry: entries[5], path: "/a5"), generation: 1)
        #expect(downloads(first).map(\.id) == [entries[2].id])
        #expect(imports(first).map(\.entry.id) == [entries[5].id])
        let second = machine.downloadFinished(DownloadedArchive(entry: entries[4], path: "/a4"), generation: 1)
        #expect(imports(second).isEmpty, "one writer at a time")
        #expect(imports(machine.importFinished(entries[5].id)).map(\.entry.id) == [entries[4].id])
    }

    @Test func alreadyImportedArchivesAreNotPlanned() {
        let entries = Self.entries(4)
        var machine = CommunitySyncMachine(configuration: config, persisted: .init(imported: [entries[0].id, entries[3].id]))
        #expect(downloads(planned(&machine, entries: entries)).map(\.id) == [entries[2].id, entries[1].id])
    }

    @Test func latestPlanTakesOnlyTheNewest() {
        var machine = CommunitySyncMachine(configuration: .init(communityID: Self.communityID, selection: .latest))
        let entries = Self.entries(4)
        #expect(downloads(planned(&machine, entries: entries)).map(\.id) == [entries[3].id])
    }

    @Test func rangePlanTakesOverlappingArchives() {
        let entries = Self.entries(5)
        let selection = ArchiveSelection.range(from: entries[1].from + 10, to: entries[3].from + 1)
        var machine = CommunitySyncMachine(configuration: .init(communityID: Self.communityID, selection: selection))
        #expect(downloads(planned(&machine, entries: entries)).map(\.id) == [entries[3].id, entries[2].id, entries[1].id])
    }

    @Test func nothingMissingMarksTheIndexProcessed() {
        let entries = Self.entries(2)
        var machine = CommunitySyncMachine(configuration: config, persisted: .init(imported: Set(entries.map(\.id))))
        let actions = planned(&machine, entries: entries)
        #expect(actions == [.planned(archives: 0, knownBad: [:]), .markProcessed(Self.cid(1)),
                            .finished(.completed(indexCID: Self.cid(1).string, imported: 0))])
        #expect(machine.phase == .idle && machine.processedIndexCID == Self.cid(1))
    }

    @Test func processedOnlyWhenEveryPlannedArchiveIsImported() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(2)
        _ = planned(&machine, entries: entries)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[1], path: "/1"), generation: 1)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[0], path: "/0"), generation: 1)
        #expect(!machine.importFinished(entries[1].id).contains(.markProcessed(Self.cid(1))))
        let last = machine.importFinished(entries[0].id)
        #expect(last.contains(.markProcessed(Self.cid(1))))
        #expect(last.contains(.finished(.completed(indexCID: Self.cid(1).string, imported: 2))))
    }

    // MARK: - Newer announcements during work

    @Test func newerAnnouncementCancelsAndReplansWithoutDoubleImport() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(4)
        _ = planned(&machine, entries: entries)
        let started = machine.downloadFinished(DownloadedArchive(entry: entries[3], path: "/3"), generation: 1)
        #expect(imports(started).map(\.entry.id) == [entries[3].id])  // importing entries[3]

        let newer = machine.announcementReceived(Self.announcement(clock: 50, cid: Self.cid(2)))
        #expect(newer.contains(.cancelDownloads(generation: 1)))
        #expect(newer.contains(.startTimer(.quietWindow, after: .seconds(20))))
        // A stale download result is remembered (the file exists) but starts nothing.
        #expect(machine.downloadFinished(DownloadedArchive(entry: entries[2], path: "/2"), generation: 1).isEmpty)
        #expect(machine.quietWindowElapsed() == [.fetchIndex(Self.cid(2), generation: 2)])

        // The new index has the same archives plus one; the one being imported is not planned again,
        // the one already downloaded is imported without downloading it again.
        let newIndex = entries + Self.entries(5).suffix(1)
        let replanned = machine.indexFetched(newIndex, generation: 2)
        #expect(!downloads(replanned).map(\.id).contains(entries[3].id))
        #expect(!downloads(replanned).map(\.id).contains(entries[2].id))
        #expect(downloads(replanned).map(\.id) == [newIndex[4].id, entries[1].id, entries[0].id])
        let next = machine.importFinished(entries[3].id)
        #expect(imports(next).map(\.entry.id) == [entries[2].id])
    }

    // MARK: - Failures and backoff

    @Test func indexFailureBacksOffAndRetriesWithGrowingDelays() {
        var machine = CommunitySyncMachine(configuration: .init(communityID: Self.communityID, retryInitialDelay: .seconds(5), retryMaxDelay: .seconds(30)))
        _ = machine.announcementReceived(Self.announcement(clock: 1, cid: Self.cid(1)))
        var delays: [Duration] = []
        _ = machine.quietWindowElapsed()
        for _ in 0..<5 {
            let actions = machine.indexFailed("Codex unreachable", generation: machine.generation)
            for case .startTimer(.retry, let delay) in actions { delays.append(delay) }
            #expect(actions.contains { if case .finished(.failed(let reason, let retryable)) = $0 { reason.contains("Codex unreachable") && retryable } else { false } })
            // No hot loop: nothing happens until the retry timer fires.
            #expect(machine.quietWindowElapsed().isEmpty)
            #expect(machine.retryDue() == [.fetchIndex(Self.cid(1), generation: machine.generation)])
        }
        #expect(delays == [.seconds(5), .seconds(10), .seconds(20), .seconds(30), .seconds(30)])
    }

    @Test func failingArchiveIsReportedAndTheRestImported() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(3)
        _ = planned(&machine, entries: entries)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[2], path: "/2"), generation: 1)
        _ = machine.downloadFailed(entries[1], reason: "HTTP 500", generation: 1)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[0], path: "/0"), generation: 1)
        _ = machine.importFailed(entries[2].id, reason: "truncated protobuf", kind: .badArchive)
        let end = machine.importFinished(entries[0].id)
        #expect(end.contains { if case .finished(.failed(_, let retryable)) = $0 { retryable } else { false } })
        #expect(machine.imported == [entries[0].id])
        #expect(!end.contains(.markProcessed(Self.cid(1))))
        guard case .backoff(let reason) = machine.phase else { Issue.record("not in backoff"); return }
        #expect(reason.contains("2 archive(s) failed") && reason.contains("HTTP 500") && reason.contains("truncated protobuf"))
        // The retry re-plans what is still missing, but does not download the bad archive again.
        _ = machine.retryDue()
        let retry = machine.indexFetched(entries, generation: machine.generation)
        #expect(retry.contains(.planned(archives: 2, knownBad: [entries[2].id: "import: truncated protobuf"])))
        #expect(downloads(retry).map(\.id) == [entries[1].id])
    }

    /// A download no node can serve in a checkable form (an erasure-coded dataset) is not
    /// retried forever: it is remembered like an archive that failed verification.
    @Test func aPermanentDownloadFailureStallsInsteadOfRetrying() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(2)
        _ = planned(&machine, entries: entries)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[1], path: "/1"), generation: 1)
        _ = machine.importFinished(entries[1].id)
        let end = machine.downloadFailed(entries[0], reason: "erasure-coded", permanent: true, generation: 1)
        #expect(end.contains { if case .finished(.failed(_, false)) = $0 { true } else { false } })
        #expect(!end.contains { if case .startTimer = $0 { true } else { false } })
        guard case .stalled = machine.phase else { Issue.record("not stalled: \(machine.phase)"); return }
        _ = machine.announcementReceived(Self.announcement(clock: 11, cid: Self.cid(1)))
        _ = machine.quietWindowElapsed()
        #expect(downloads(machine.indexFetched(entries, generation: machine.generation)).isEmpty)
    }

    @Test func onlyBadArchivesLeftStallsUntilANewerIndex() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(2)
        _ = planned(&machine, entries: entries)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[1], path: "/1"), generation: 1)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[0], path: "/0"), generation: 1)
        _ = machine.importFinished(entries[1].id)
        let end = machine.importFailed(entries[0].id, reason: "encrypted", kind: .badArchive)
        // Reported as not retryable, no retry timer, and the index is not marked processed.
        #expect(end.contains { if case .finished(.failed(_, false)) = $0 { true } else { false } })
        #expect(!end.contains { if case .startTimer = $0 { true } else { false } })
        #expect(!end.contains(.markProcessed(Self.cid(1))))
        guard case .stalled(let reason) = machine.phase else { Issue.record("not stalled: \(machine.phase)"); return }
        #expect(reason.contains("encrypted"))
        #expect(machine.retryDue().isEmpty)

        // The same index announced again: fetched, but the bad archive is not downloaded again.
        _ = machine.announcementReceived(Self.announcement(clock: 11, cid: Self.cid(1)))
        _ = machine.quietWindowElapsed()
        let again = machine.indexFetched(entries, generation: machine.generation)
        #expect(downloads(again).isEmpty)
        #expect(again.contains(.planned(archives: 1, knownBad: [entries[0].id: "import: encrypted"])))
        guard case .stalled = machine.phase else { Issue.record("not stalled again"); return }

        // A newer index without the bad archive completes.
        _ = machine.announcementReceived(Self.announcement(clock: 12, cid: Self.cid(2)))
        _ = machine.quietWindowElapsed()
        let newer = machine.indexFetched([entries[1]], generation: machine.generation)
        #expect(newer.contains(.markProcessed(Self.cid(2))))
    }

    @Test func rejectionsPersistedBeforeAreNotDownloadedAfterARestart() {
        let entries = Self.entries(2)
        var machine = CommunitySyncMachine(configuration: config, persisted: .init(
            clock: 10, indexCID: Self.cid(1), rejected: [entries[1].id: "import: encrypted"]))
        #expect(machine.started() == [.fetchIndex(Self.cid(1), generation: 1)])
        let plan = machine.indexFetched(entries, generation: 1)
        #expect(plan.contains(.planned(archives: 2, knownBad: [entries[1].id: "import: encrypted"])))
        #expect(downloads(plan).map(\.id) == [entries[0].id])
    }

    @Test func databaseFailureImportsTheSameFileOnRetry() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(1)
        _ = planned(&machine, entries: entries)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[0], path: "/0"), generation: 1)
        let end = machine.importFailed(entries[0].id, reason: "database is locked", kind: .database)
        #expect(end.contains { if case .finished(.failed(_, true)) = $0 { true } else { false } })
        _ = machine.retryDue()
        let retry = machine.indexFetched(entries, generation: machine.generation)
        #expect(downloads(retry).isEmpty)
        #expect(imports(retry).map(\.path) == ["/0"])
    }

    @Test func unreadableFileIsDownloadedAgainOnRetry() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(1)
        _ = planned(&machine, entries: entries)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[0], path: "/0"), generation: 1)
        _ = machine.importFailed(entries[0].id, reason: "no such file", kind: .unreadableFile)
        _ = machine.retryDue()
        #expect(downloads(machine.indexFetched(entries, generation: machine.generation)).map(\.id) == [entries[0].id])
    }

    @Test func newAnnouncementDuringBackoffStartsOver() {
        var machine = CommunitySyncMachine(configuration: config)
        _ = machine.announcementReceived(Self.announcement(clock: 1, cid: Self.cid(1)))
        _ = machine.quietWindowElapsed()
        _ = machine.indexFailed("undecodable", generation: 1)
        let actions = machine.announcementReceived(Self.announcement(clock: 2, cid: Self.cid(2)))
        #expect(actions.contains(.startTimer(.quietWindow, after: .seconds(20))))
        #expect(machine.failedAttempts == 0 && machine.phase == .settling)
    }

    // MARK: - Restart

    @Test func resumeImportsDownloadedArchivesThenFetchesWhatIsMissing() {
        let entries = Self.entries(3)
        let persisted = CommunitySyncMachine.Persisted(
            clock: 40, indexCID: Self.cid(1), processedIndexCID: nil, imported: [entries[0].id],
            downloaded: [DownloadedArchive(entry: entries[1], path: "/1")])
        var machine = CommunitySyncMachine(configuration: config, persisted: persisted)
        let actions = machine.started()
        #expect(imports(actions).map(\.entry.id) == [entries[1].id])
        #expect(actions.contains(.fetchIndex(Self.cid(1), generation: 1)))
        // The archive being imported is not downloaded again.
        #expect(downloads(machine.indexFetched(entries, generation: 1)).map(\.id) == [entries[2].id])
        // An older clock than the persisted one is still ignored after the restart.
        #expect(machine.announcementReceived(Self.announcement(clock: 39, cid: Self.cid(7))) == [.ignored(.olderClock(clock: 39, stored: 40))])
    }

    @Test func processedStateSurvivesARestart() {
        var machine = CommunitySyncMachine(configuration: config, persisted: .init(clock: 40, indexCID: Self.cid(1), processedIndexCID: Self.cid(1)))
        #expect(machine.started().isEmpty)
        #expect(machine.phase == .idle)
    }
}
