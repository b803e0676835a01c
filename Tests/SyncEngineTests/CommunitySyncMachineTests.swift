import Foundation
import StatusCrypto
import StatusWire
import Testing
@testable import SyncEngine

/// Every rule of the sync machine, with no network and no sleeping.
@Suite struct CommunitySyncMachineTests {
    static let communityKey = try! PrivateKey(bytes: [UInt8](repeating: 0, count: 31) + [1])
    static let forgerKey = try! PrivateKey(bytes: [UInt8](repeating: 0, count: 31) + [2])
    static let communityID = CommunityID(publicKey: communityKey.publicKey)

    let config = CommunitySyncMachine.Configuration(communityID: communityID, quietWindow: .seconds(20), maxConcurrentDownloads: 3)

    static func cid(_ n: Int) -> CID { (try! CID.codex(of: Array("index \(n)".utf8))).manifestCID }

    static func announcement(clock: UInt64, cid: CID, signer: PrivateKey = communityKey) -> ArchiveAnnouncement {
        ArchiveAnnouncement(clock: clock, indexCID: cid, signer: signer.publicKey, messageType: 43, contentTopic: "/waku/1/0x00000000/rfc26")
    }

    static func entries(_ count: Int) -> [ArchiveIndexEntry] {
        (0..<count).map { week in
            let from = UInt64(1_700_000_000 + week * 604_800)
            return ArchiveIndexEntry(id: try! ArchiveID(String(format: "0x%064x", week)), cid: (try! CID.codex(of: [UInt8(week)])).manifestCID,
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
        #expect(machine.phase == .settling(candidate: Self.cid(1)))
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
        #expect(machine.phase == .notStarted(resuming: nil))
    }

    @Test func forgedSignerIsIgnored() {
        var machine = CommunitySyncMachine(configuration: config)
        let forged = Self.announcement(clock: 1_000, cid: Self.cid(9), signer: Self.forgerKey)
        #expect(machine.announcementReceived(forged) == [.ignored(.notSignedByCommunity(signer: forged.signerID.string))])
        #expect(machine.storedClock == 0 && machine.phase == .notStarted(resuming: nil))
    }

    @Test func lastProcessedCIDIsIgnored() {
        var machine = CommunitySyncMachine(configuration: config, persisted: .init(
            clock: 10, indexCID: Self.cid(1), processedIndexCID: Self.cid(1), processedSelection: .all))
        #expect(machine.announcementReceived(Self.announcement(clock: 20, cid: Self.cid(1))) == [.ignored(.alreadyProcessed(cid: Self.cid(1).string))])
    }

    @Test func sameCIDDuringWorkDoesNotRestart() {
        var machine = CommunitySyncMachine(configuration: config)
        _ = planned(&machine, entries: Self.entries(5))
        let again = machine.announcementReceived(Self.announcement(clock: 30, cid: Self.cid(1)))
        #expect(again == [.persistAnnouncement(clock: 30, indexCID: Self.cid(1))])
        guard case .working(let plan) = machine.phase else { Issue.record("not working: \(machine.phase)"); return }
        #expect(plan.indexCID == Self.cid(1) && plan.downloading.count == 3)
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
        #expect(actions == [.planned(archives: 0, knownBad: [:]), .markProcessed(Self.cid(1), selection: .all),
                            .finished(.completed(indexCID: Self.cid(1), imported: 0, unimportable: [:]))])
        #expect(machine.phase == .idle && machine.processedIndexCID == Self.cid(1))
    }

    @Test func processedOnlyWhenEveryPlannedArchiveIsImported() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(2)
        _ = planned(&machine, entries: entries)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[1], path: "/1"), generation: 1)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[0], path: "/0"), generation: 1)
        #expect(!machine.importFinished(entries[1].id).contains(.markProcessed(Self.cid(1), selection: .all)))
        let last = machine.importFinished(entries[0].id)
        #expect(last.contains(.markProcessed(Self.cid(1), selection: .all)))
        #expect(last.contains(.finished(.completed(indexCID: Self.cid(1), imported: 2, unimportable: [:]))))
    }

    /// The next archive is verified while the one before is written, never two verified at
    /// once (the verification threads stay as configured), and never more than two imports.
    @Test func theNextArchiveIsVerifiedWhileOneIsWritten() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(3)
        _ = planned(&machine, entries: entries)
        let first = machine.downloadFinished(DownloadedArchive(entry: entries[2], path: "/2"), generation: 1)
        #expect(imports(first).map(\.entry.id) == [entries[2].id])
        // Downloaded while the first is still verifying: it waits.
        #expect(imports(machine.downloadFinished(DownloadedArchive(entry: entries[1], path: "/1"), generation: 1)).isEmpty)
        #expect(imports(machine.downloadFinished(DownloadedArchive(entry: entries[0], path: "/0"), generation: 1)).isEmpty)
        // The first is verified and being written: the second starts verifying.
        #expect(imports(machine.importVerified(entries[2].id)).map(\.entry.id) == [entries[1].id])
        #expect(machine.importVerified(entries[2].id).isEmpty)  // said twice: nothing more
        // The second is verified too, but two imports run already: the third waits for a commit.
        #expect(imports(machine.importVerified(entries[1].id)).isEmpty)
        #expect(imports(machine.importFinished(entries[2].id)).map(\.entry.id) == [entries[0].id])
        // A verification that ends in failure frees the slot as well.
        #expect(machine.importFailed(entries[0].id, ArchiveFailure(.rejected, "bad signature")).isEmpty)
        let last = machine.importFinished(entries[1].id)
        #expect(last.contains(.finished(.completed(indexCID: Self.cid(1), imported: 2,
                                                   unimportable: [entries[0].id: ArchiveFailure(.rejected, "bad signature")]))))
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
        var machine = CommunitySyncMachine(configuration: .init(communityID: Self.communityID, retryInitialDelay: .seconds(5), retryMaxDelay: .seconds(30),
                                                                retryJitter: 0))
        _ = machine.announcementReceived(Self.announcement(clock: 1, cid: Self.cid(1)))
        var delays: [Duration] = []
        _ = machine.quietWindowElapsed()
        for _ in 0..<5 {
            let failure = ArchiveFailure(.peerUnreachable, "Codex unreachable")
            let actions = machine.indexFailed(failure, generation: machine.generation)
            for case .startTimer(.retry, let delay) in actions { delays.append(delay) }
            #expect(actions.contains(.finished(.failed(.index(Self.cid(1), failure)))))
            #expect(PlanFailure.index(Self.cid(1), failure).cause == .peerUnreachable)
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
        _ = machine.downloadFailed(entries[1], ArchiveFailure(.peerUnreachable, "download: HTTP 500"), generation: 1)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[0], path: "/0"), generation: 1)
        _ = machine.importFailed(entries[2].id, ArchiveFailure(.rejected, "import: truncated protobuf"))
        let end = machine.importFinished(entries[0].id)
        let failures = [entries[1].id: ArchiveFailure(.peerUnreachable, "download: HTTP 500"),
                        entries[2].id: ArchiveFailure(.rejected, "import: truncated protobuf")]
        #expect(end.contains(.finished(.failed(.archives(failures)))))
        // The rejected archive does not count: only the unreachable node is left to fix.
        #expect(PlanFailure.archives(failures).cause == .peerUnreachable)
        #expect(machine.imported == [entries[0].id])
        #expect(!end.contains(.markProcessed(Self.cid(1), selection: .all)))
        guard case .backoff(let pursuit, let failure) = machine.phase else { Issue.record("not in backoff"); return }
        #expect(pursuit.indexCID == Self.cid(1) && pursuit.failedAttempts == 1)
        #expect(failure.description.contains("2 archive(s) failed") && failure.description.contains("HTTP 500"))
        // The retry re-plans what is still missing, but does not download the bad archive again.
        _ = machine.retryDue()
        let retry = machine.indexFetched(entries, generation: machine.generation)
        #expect(retry.contains(.planned(archives: 2, knownBad: [entries[2].id: ArchiveFailure(.rejected, "import: truncated protobuf")])))
        #expect(downloads(retry).map(\.id) == [entries[1].id])
    }

    /// A download no node can serve in a checkable form (an erasure-coded dataset) is not
    /// retried forever: it is remembered like an archive that failed verification.
    @Test func aPermanentDownloadFailureCompletesInsteadOfRetrying() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(2)
        _ = planned(&machine, entries: entries)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[1], path: "/1"), generation: 1)
        _ = machine.importFinished(entries[1].id)
        let failure = ArchiveFailure(.rejected, "download: erasure-coded")
        let end = machine.downloadFailed(entries[0], failure, generation: 1)
        #expect(end.contains(.finished(.completed(indexCID: Self.cid(1), imported: 1, unimportable: [entries[0].id: failure]))))
        #expect(!end.contains { if case .startTimer = $0 { true } else { false } })
        #expect(machine.phase == .idle)
        // After a restart the index is fetched again, and the archive is not downloaded.
        var restarted = CommunitySyncMachine(configuration: config, persisted: .init(
            clock: 10, indexCID: Self.cid(1), imported: [entries[1].id], rejected: machine.rejected))
        #expect(restarted.started() == [.fetchIndex(Self.cid(1), generation: 1)])
        #expect(downloads(restarted.indexFetched(entries, generation: 1)).isEmpty)
    }

    /// Issue 9 defect 9: one unreadable archive made the community look failed forever.
    @Test func onlyBadArchivesLeftCompletesWithThemListed() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(2)
        _ = planned(&machine, entries: entries)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[1], path: "/1"), generation: 1)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[0], path: "/0"), generation: 1)
        _ = machine.importFinished(entries[1].id)
        let failure = ArchiveFailure(.rejected, "import: encrypted")
        let end = machine.importFailed(entries[0].id, failure)
        // Everything importable is in: completed, with the bad archive listed; no retry timer,
        // and not persisted as processed (a restart fetches the index once more).
        #expect(end == [.finished(.completed(indexCID: Self.cid(1), imported: 1, unimportable: [entries[0].id: failure]))])
        #expect(machine.phase == .idle)
        #expect(machine.retryDue().isEmpty)

        // The same index announced again in this run: nothing to do.
        #expect(machine.announcementReceived(Self.announcement(clock: 11, cid: Self.cid(1))) == [.ignored(.alreadyProcessed(cid: Self.cid(1).string))])

        // After a restart: fetched once more, completed again without a download.
        var restarted = CommunitySyncMachine(configuration: config, persisted: .init(
            clock: 11, indexCID: Self.cid(1), imported: [entries[1].id], rejected: machine.rejected))
        _ = restarted.started()
        let again = restarted.indexFetched(entries, generation: 1)
        #expect(downloads(again).isEmpty)
        #expect(again == [.planned(archives: 1, knownBad: [entries[0].id: failure]),
                          .finished(.completed(indexCID: Self.cid(1), imported: 0, unimportable: [entries[0].id: failure]))])

        // A newer index without the bad archive is marked processed.
        _ = machine.announcementReceived(Self.announcement(clock: 12, cid: Self.cid(2)))
        _ = machine.quietWindowElapsed()
        let newer = machine.indexFetched([entries[1]], generation: machine.generation)
        #expect(newer.contains(.markProcessed(Self.cid(2), selection: .all)))
    }

    /// An archive over a limit the user sets is not retried in this run, nor remembered.
    @Test func anArchiveOverALimitIsUnimportableForThisRunOnly() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(1)
        _ = planned(&machine, entries: entries)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[0], path: "/0"), generation: 1)
        let failure = ArchiveFailure(.overLimit, "import: over 1 MiB")
        #expect(machine.importFailed(entries[0].id, failure)
                == [.finished(.completed(indexCID: Self.cid(1), imported: 0, unimportable: [entries[0].id: failure]))])
    }

    /// Regression (issue 9, defect 5): every archive of an index of CIDs no node has was looked
    /// up in turn, each lookup taking minutes: hours per plan. After a run of failures the rest
    /// of the plan waits for the retry.
    @Test func aRunOfDownloadFailuresSpendsThePlansBudget() {
        var machine = CommunitySyncMachine(configuration: .init(
            communityID: Self.communityID, maxConcurrentDownloads: 3, maxConsecutiveDownloadFailures: 4))
        let entries = Self.entries(20)
        var started = downloads(planned(&machine, entries: entries))
        var finished: [SyncAction] = []
        // One download works: the run starts again after it.
        started += downloads(machine.downloadFinished(DownloadedArchive(entry: started.removeFirst(), path: "/ok"), generation: 1))
        _ = machine.importFinished(entries[19].id)
        var failed = 0
        while !started.isEmpty {
            let entry = started.removeFirst()
            failed += 1
            let actions = machine.downloadFailed(entry, ArchiveFailure(.download, "download: not found"), generation: 1)
            started += downloads(actions)
            finished += actions
        }
        // 1 worked, then 4 failures in a row spent the budget, and the 2 already running ended.
        #expect(failed == 6)
        guard case .finished(.failed(.archives(let failures)))? = finished.last(where: { if case .finished = $0 { true } else { false } }) else {
            Issue.record("no failed outcome: \(finished)")
            return
        }
        #expect(failures.count == 19)
        #expect(failures.values.filter { !$0.attempted }.count == 13)
        #expect(PlanFailure.archives(failures).description.contains("and 14 more"))
        #expect(finished.contains { if case .startTimer(.retry, _) = $0 { true } else { false } })
        // The retry tries what was not tried first (newest first), then what failed (review of
        // this change: otherwise ten missing newest archives would keep older ones from ever loading).
        _ = machine.retryDue()
        #expect(downloads(machine.indexFetched(entries, generation: machine.generation)).map(\.id) == Array(entries[10...12].reversed().map(\.id)))
    }

    @Test func rejectionsPersistedBeforeAreNotDownloadedAfterARestart() {
        let entries = Self.entries(2)
        var machine = CommunitySyncMachine(configuration: config, persisted: .init(
            clock: 10, indexCID: Self.cid(1), rejected: [entries[1].id: ArchiveFailure(.rejected, "import: encrypted")]))
        #expect(machine.started() == [.fetchIndex(Self.cid(1), generation: 1)])
        let plan = machine.indexFetched(entries, generation: 1)
        #expect(plan.contains(.planned(archives: 2, knownBad: [entries[1].id: ArchiveFailure(.rejected, "import: encrypted")])))
        #expect(downloads(plan).map(\.id) == [entries[0].id])
    }

    @Test func databaseFailureImportsTheSameFileOnRetry() {
        var machine = CommunitySyncMachine(configuration: config)
        let entries = Self.entries(1)
        _ = planned(&machine, entries: entries)
        _ = machine.downloadFinished(DownloadedArchive(entry: entries[0], path: "/0"), generation: 1)
        let failure = ArchiveFailure(.database, "import: database is locked")
        let end = machine.importFailed(entries[0].id, failure)
        #expect(end.contains(.finished(.failed(.archives([entries[0].id: failure])))))
        #expect(PlanFailure.archives([entries[0].id: failure]).cause == .database)
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
        _ = machine.importFailed(entries[0].id, ArchiveFailure(.unreadableFile, "import: no such file"))
        _ = machine.retryDue()
        #expect(downloads(machine.indexFetched(entries, generation: machine.generation)).map(\.id) == [entries[0].id])
    }

    @Test func newAnnouncementDuringBackoffStartsOver() {
        var machine = CommunitySyncMachine(configuration: config)
        _ = machine.announcementReceived(Self.announcement(clock: 1, cid: Self.cid(1)))
        _ = machine.quietWindowElapsed()
        _ = machine.indexFailed(ArchiveFailure(.rejected, "undecodable"), generation: 1)
        let actions = machine.announcementReceived(Self.announcement(clock: 2, cid: Self.cid(2)))
        #expect(actions.contains(.startTimer(.quietWindow, after: .seconds(20))))
        #expect(machine.failedAttempts == 0 && machine.phase == .settling(candidate: Self.cid(2)))
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
        var machine = CommunitySyncMachine(configuration: config, persisted: .init(
            clock: 40, indexCID: Self.cid(1), processedIndexCID: Self.cid(1), processedSelection: .all))
        #expect(machine.started().isEmpty)
        #expect(machine.phase == .idle)
    }

    /// Issue 9 defect 3: after `--mode latest` (or a range), `--mode all` imported nothing until
    /// a new index was announced.
    @Test func aPartialPlanDoesNotCoverAFullOne() {
        let entries = Self.entries(3)
        var latest = CommunitySyncMachine(configuration: .init(communityID: Self.communityID, selection: .latest))
        _ = planned(&latest, entries: entries)
        _ = latest.downloadFinished(DownloadedArchive(entry: entries[2], path: "/2"), generation: 1)
        #expect(latest.importFinished(entries[2].id).contains(.markProcessed(Self.cid(1), selection: .latest)))

        // Restarted for all archives: the same index is fetched again and the rest planned.
        var all = CommunitySyncMachine(configuration: config, persisted: .init(
            clock: 10, indexCID: Self.cid(1), processedIndexCID: Self.cid(1), processedSelection: .latest, imported: [entries[2].id]))
        #expect(all.started() == [.fetchIndex(Self.cid(1), generation: 1)])
        #expect(downloads(all.indexFetched(entries, generation: 1)).map(\.id) == [entries[1].id, entries[0].id])

        // Its announcement, heard again, is acted on too; under `latest` it is not.
        var fresh = CommunitySyncMachine(configuration: config, persisted: .init(
            clock: 10, indexCID: Self.cid(1), processedIndexCID: Self.cid(1), processedSelection: .latest))
        #expect(fresh.announcementReceived(Self.announcement(clock: 10, cid: Self.cid(1))).contains(.startTimer(.quietWindow, after: .seconds(20))))
        var again = CommunitySyncMachine(configuration: .init(communityID: Self.communityID, selection: .latest), persisted: .init(
            clock: 10, indexCID: Self.cid(1), processedIndexCID: Self.cid(1), processedSelection: .latest))
        #expect(again.announcementReceived(Self.announcement(clock: 10, cid: Self.cid(1))) == [.ignored(.alreadyProcessed(cid: Self.cid(1).string))])
        // A mark from before selections were recorded covers nothing.
        var legacy = CommunitySyncMachine(configuration: config, persisted: .init(clock: 10, indexCID: Self.cid(1), processedIndexCID: Self.cid(1)))
        #expect(legacy.started() == [.fetchIndex(Self.cid(1), generation: 1)])
    }

    @Test func selectionsCoverWhatTheySelect() {
        #expect(ArchiveSelection.all.covers(.latest) && ArchiveSelection.all.covers(.range(from: 1, to: 2)))
        #expect(!ArchiveSelection.latest.covers(.all) && !ArchiveSelection.range(from: 0, to: 10).covers(.all))
        #expect(ArchiveSelection.range(from: 0, to: 10).covers(.range(from: 2, to: 10)))
        #expect(!ArchiveSelection.range(from: 0, to: 10).covers(.range(from: 2, to: 11)))
        for selection in [ArchiveSelection.all, .latest, .range(from: 5, to: 9)] {
            #expect(ArchiveSelection(storageKey: selection.storageKey) == selection)
        }
        #expect(ArchiveSelection(storageKey: "range:9-5") == nil && ArchiveSelection(storageKey: "merge") == nil)
    }
}
