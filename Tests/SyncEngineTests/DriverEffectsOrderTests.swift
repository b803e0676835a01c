import Logging
import StatusWire
import Synchronization
import Testing
@testable import SyncEngine

/// The driver's loop alone, on a fake `SyncEffects` and a manual clock: which effects it runs,
/// in which order and at which simulated time. No node, no database, no sleeping.
@Suite(.timeLimit(.minutes(5))) struct DriverEffectsOrderTests {
    typealias Machine = CommunitySyncMachineTests
    static let archives = Machine.entries(3)

    func driver(_ effects: FakeEffects) -> RunningDriver {
        RunningDriver(CommunitySyncDriver(configuration: .init(communityID: Machine.communityID, quietWindow: .seconds(20)), effects: effects))
    }

    @Test func aPlanWaitsTheQuietWindowThenFetchesDownloadsImportsAndRecordsInThatOrder() async throws {
        let clock = ManualClock()
        let effects = FakeEffects(clock: clock, indexes: [Machine.cid(1): Array(Self.archives.prefix(2))])
        let driver = driver(effects)
        #expect(await driver.nextOutcome() == .nothingToDo)
        driver.receive(Machine.announcement(clock: 1, cid: Machine.cid(1)))
        try await clock.waitForSleepers(endingAt: .seconds(20))
        clock.advance(by: .seconds(19))
        #expect(!effects.calls.contains("fetch index 1"), "nothing is fetched before the quiet window ends")
        clock.advance(by: .seconds(1))
        try await clock.waitForSleepers(endingAt: .seconds(30), count: 2)  // both downloads run at once
        clock.advance(by: .seconds(10))
        guard case .completed(_, 2, let unimportable)? = await driver.nextOutcome() else { Issue.record("not completed"); return }
        #expect(unimportable.isEmpty)
        await driver.stop()

        #expect(effects.time(of: "fetch index 1") == .seconds(20))
        #expect(effects.order("resume", "save clock 1", "sleep 20.0 seconds", "fetch index 1", "download 0", "downloaded 0",
                              "import 0", "imported 0", "processed index 1", "outcome completed"))
        #expect(effects.order("fetch index 1", "download 1", "downloaded 1", "import 1", "imported 1", "processed index 1"))
    }

    @Test func aNewerAnnouncementCancelsTheOlderPlansDownloadsButNotItsImport() async throws {
        let clock = ManualClock()
        let effects = FakeEffects(clock: clock, indexes: [Machine.cid(1): Array(Self.archives.prefix(2)), Machine.cid(2): [Self.archives[2]]],
                                  downloadTime: [0: .seconds(1), 1: .seconds(60)], importTime: .seconds(5))
        let driver = driver(effects)
        #expect(await driver.nextOutcome() == .nothingToDo)
        driver.receive(Machine.announcement(clock: 1, cid: Machine.cid(1)))
        try await clock.waitForSleepers(endingAt: .seconds(20))
        clock.advance(by: .seconds(20))
        try await clock.waitForSleepers(endingAt: .seconds(21))
        try await clock.waitForSleepers(endingAt: .seconds(80))
        clock.advance(by: .seconds(1))  // archive 0 is downloaded and its import starts; archive 1 downloads on
        try await clock.waitForSleepers(endingAt: .seconds(26))

        driver.receive(Machine.announcement(clock: 2, cid: Machine.cid(2)))
        try await clock.waitForSleepers(endingAt: .seconds(41))  // the newer announcement's quiet window
        try await effects.waitUntil { $0.contains("download cancelled 1") }
        clock.advance(by: .seconds(5))  // the older plan's import ends: it is not cancelled
        try await effects.waitUntil { $0.contains("imported 0") }
        clock.advance(by: .seconds(15))
        try await clock.waitForSleepers(endingAt: .seconds(51))  // archive 2 downloads
        clock.advance(by: .seconds(10))
        try await clock.waitForSleepers(endingAt: .seconds(56))  // and is imported
        clock.advance(by: .seconds(5))
        var outcome = await driver.nextOutcome()
        while case .nothingToDo? = outcome { outcome = await driver.nextOutcome() }
        guard case .completed(let index, 1, _)? = outcome else { Issue.record("not completed: \(String(describing: outcome))"); return }
        #expect(index == Machine.cid(2))
        await driver.stop()

        #expect(effects.order("import 0", "download cancelled 1", "imported 0", "fetch index 2", "download 2", "imported 2"))
        #expect(!effects.calls.contains("import 1"), "the older plan's other archive is not imported")
        #expect(effects.time(of: "fetch index 2") == .seconds(41), "20 s after the newer announcement, at 21 s")
    }

    @Test func aTimerReplacedBeforeItEndsDoesNotFire() async throws {
        let clock = ManualClock()
        let effects = FakeEffects(clock: clock, indexes: [Machine.cid(2): [Self.archives[0]]])
        let driver = driver(effects)
        #expect(await driver.nextOutcome() == .nothingToDo)
        driver.receive(Machine.announcement(clock: 1, cid: Machine.cid(1)))
        try await clock.waitForSleepers(endingAt: .seconds(20))
        clock.advance(by: .seconds(10))
        driver.receive(Machine.announcement(clock: 2, cid: Machine.cid(2)))
        try await clock.waitForSleepers(endingAt: .seconds(30))
        clock.advance(by: .seconds(10))  // the first quiet window would end here
        clock.advance(by: .seconds(10))
        try await clock.waitForSleepers(endingAt: .seconds(40))
        clock.advance(by: .seconds(10))
        guard case .completed(let index, 1, _)? = await driver.nextOutcome() else { Issue.record("not completed"); return }
        await driver.stop()

        #expect(index == Machine.cid(2))
        #expect(effects.calls.filter { $0.hasPrefix("fetch") } == ["fetch index 2"], "one fetch, of the newer index")
        #expect(effects.time(of: "fetch index 2") == .seconds(30))
    }

    /// A driver whose plan (index 1, one archive) is importing from 20 s, for `importTime`.
    func importing(for importTime: Duration) async throws -> (ManualClock, FakeEffects, RunningDriver) {
        let clock = ManualClock()
        let effects = FakeEffects(clock: clock, indexes: [Machine.cid(1): [Self.archives[0]]], downloadTime: [0: .zero], importTime: importTime)
        let driver = driver(effects)
        #expect(await driver.nextOutcome() == .nothingToDo)
        driver.receive(Machine.announcement(clock: 1, cid: Machine.cid(1)))
        try await clock.waitForSleepers(endingAt: .seconds(20))
        clock.advance(by: .seconds(20))
        try await clock.waitForSleepers(endingAt: .seconds(20) + importTime)
        return (clock, effects, driver)
    }

    /// The loop is not blocked by a running import: an announcement is accepted (and persisted)
    /// while the import of an earlier plan runs, and that import still ends as it would have.
    @Test func anAnnouncementIsAcceptedWhileAnImportRuns() async throws {
        let (clock, effects, driver) = try await importing(for: .seconds(60))

        driver.receive(Machine.announcement(clock: 2, cid: Machine.cid(2)))
        try await effects.waitUntil { $0.contains("save clock 2") }
        clock.advance(by: .seconds(60))
        try await effects.waitUntil { $0.contains("imported 0") }
        await driver.stop()

        #expect(effects.order("import 0", "save clock 2", "imported 0"))
        #expect(effects.time(of: "save clock 2") == .seconds(20), "accepted while the import ran, before it ended at 80 s")
    }

    @Test func stoppingCancelsARunningImportAndRecordsNoOutcome() async throws {
        let (_, effects, driver) = try await importing(for: .seconds(60))
        await driver.stop()

        #expect(effects.order("import 0", "import cancelled 0"))
        #expect(!effects.calls.contains { $0.hasPrefix("outcome") }, "a stopped plan has no outcome to record")
    }
}

/// `SyncEffects` that record each call with the manual clock's time. Downloads and imports take
/// the time they are given on that clock, and say when they are cancelled.
final class FakeEffects: SyncEffects {
    let logger = Logger(label: "community-history.test.effects")
    let clock: ManualClock
    let indexes: [CID: [ArchiveIndexEntry]]
    let downloadTime: [Int: Duration]
    let importTime: Duration
    private let log = Mutex<[(call: String, at: Duration)]>([])

    init(clock: ManualClock, indexes: [CID: [ArchiveIndexEntry]], downloadTime: [Int: Duration] = [:], importTime: Duration = .zero) {
        (self.clock, self.indexes, self.downloadTime, self.importTime) = (clock, indexes, downloadTime, importTime)
    }

    var calls: [String] { log.withLock { $0.map(\.call) } }
    func time(of call: String) -> Duration? { log.withLock { $0.first { $0.call == call }?.at } }

    /// Whether `calls` holds these in this order (others between them).
    func order(_ expected: String...) -> Bool {
        var rest = calls[...]
        for call in expected {
            guard let at = rest.firstIndex(of: call) else { return false }
            rest = rest[(at + 1)...]
        }
        return true
    }

    /// Waits (on real time, at most 2 minutes: the whole suite shares two threads with every
    /// other suite) until the calls satisfy `condition`.
    func waitUntil(_ condition: @escaping ([String]) -> Bool) async throws {
        try await SyncEngineTests.waitUntil("the driver's calls; calls so far: \(calls)") { condition(self.calls) }
    }

    private func record(_ call: String) { log.withLock { $0.append((call, clock.now.offset)) } }
    private func name(_ cid: CID) -> String {
        (1...9).first { CommunitySyncMachineTests.cid($0) == cid }.map { "index \($0)" } ?? cid.string
    }
    private func number(_ entry: ArchiveIndexEntry) -> Int { Int(entry.id.string.suffix(8), radix: 16) ?? -1 }

    func resume(rescan: Bool) async throws -> CommunitySyncMachine.Persisted {
        record("resume")
        return .init()
    }

    func fetchIndex(_ cid: CID) async -> WorkResult<[ArchiveIndexEntry]> {
        record("fetch \(name(cid))")
        guard let entries = indexes[cid] else { return .failed(ArchiveFailure(.peerUnreachable, "no such index")) }
        return .succeeded(entries)
    }

    func download(_ entry: ArchiveIndexEntry) async -> WorkResult<DownloadedArchive> {
        let n = number(entry)
        record("download \(n)")
        do { try await clock.sleep(for: downloadTime[n] ?? .seconds(10)) } catch {
            record("download cancelled \(n)")
            return .cancelled
        }
        record("downloaded \(n)")
        return .succeeded(DownloadedArchive(entry: entry, path: "/nonexistent/\(n)"))
    }

    func importArchive(_ archive: DownloadedArchive, verified: @escaping @Sendable () -> Void) async -> WorkResult<Void> {
        let n = number(archive.entry)
        record("import \(n)")
        verified()
        do { try await clock.sleep(for: importTime) } catch {
            record("import cancelled \(n)")
            return .cancelled
        }
        record("imported \(n)")
        return .succeeded(())
    }

    func sleep(for delay: Duration) async throws {
        record("sleep \(delay)")
        try await clock.sleep(for: delay)
    }

    func saveAnnouncement(clock: UInt64, indexCID: CID) async { record("save clock \(clock)") }
    func markProcessed(_ cid: CID, selection: ArchiveSelection) async { record("processed \(name(cid))") }

    func recordOutcome(_ outcome: SyncOutcome) async {
        switch outcome {
        case .completed: record("outcome completed")
        case .failed: record("outcome failed")
        case .nothingToDo: record("outcome nothing to do")
        }
    }

    func report(_ event: SyncEvent) {}
}
