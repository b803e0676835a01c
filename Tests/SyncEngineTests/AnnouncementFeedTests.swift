import Foundation
import StatusWire
import Synchronization
import Testing
import WakuClient
@testable import SyncEngine

/// The agent's intake on a manual clock against the demo nwaku node: when it asks the store,
/// and that each run of a community hears an announcement once.
@Suite(.serialized, .timeLimit(.minutes(5))) struct AnnouncementFeedTests {
    /// Announcements each subscriber heard, by run.
    final class Heard: Sendable {
        private let runs = Mutex<[Int: [UInt64]]>([:])
        func add(_ announcement: ArchiveAnnouncement, run: Int) { runs.withLock { $0[run, default: []].append(announcement.clock) } }
        func clocks(of run: Int) -> [UInt64] { runs.withLock { $0[run] ?? [] } }
    }

    @Test func aNewRunIsCaughtUpAtTheNextTurnAndEveryoneAtTheCatchUpInterval() async throws {
        let network = try await SyncIntegrationTests.network()
        defer { Task { await network.stop() } }
        let publisher = network.publisher
        try await publisher.announce(on: network.waku, clock: 7)
        let clock = ManualClock()
        var settings = AnnouncementFeed<ManualClock>.Settings()
        settings.pollEvery = .seconds(2)
        settings.catchUpEvery = .seconds(300)
        let feed = AnnouncementFeed(waku: network.waku, database: try SyncIntegrationTests.database(network), settings: settings, clock: clock)
        let heard = Heard()
        func subscriber(run: Int) throws -> FeedSubscriber {
            FeedSubscriber(run: run, communityID: publisher.community.communityID, pubsubTopic: WakuClient.defaultPubsubTopic,
                           channel: try ArchiveChannel(communityID: publisher.community.communityID),
                           deliver: { heard.add($0, run: run) })
        }
        func storeQueries() async -> Int { await network.wakuNode.storeQueryCount() }
        let (changes, roster) = AsyncStream.makeStream(of: [FeedSubscriber].self)
        let running = Task { await feed.run(subscribers: changes) }
        defer { running.cancel() }

        // The first turn: the run's 30-day catch-up finds the announcement.
        roster.yield([try subscriber(run: 1)])
        try await clock.waitForSleepers(endingAt: .seconds(2))
        #expect(heard.clocks(of: 1) == [7])
        let afterFirst = await storeQueries()
        #expect(afterFirst == 1)

        // Relay polls only until the catch-up interval has passed.
        clock.advance(by: .seconds(2))
        try await clock.waitForSleepers(endingAt: .seconds(4))
        #expect(await storeQueries() == afterFirst)

        // A second run of the community (a rescan) is caught up at a next turn (the list reaches
        // the loop as mail: at the turn after the change, or the one after): it hears the
        // announcement too; the first run does not hear it again.
        roster.yield([try subscriber(run: 1), try subscriber(run: 2)])
        clock.advance(by: .seconds(2))
        try await clock.waitForSleepers(endingAt: .seconds(6))
        clock.advance(by: .seconds(2))
        try await clock.waitForSleepers(endingAt: .seconds(8))
        #expect(heard.clocks(of: 2) == [7])
        #expect(await storeQueries() == afterFirst + 1)

        // At 300 s, one periodic query for both runs: nothing is heard twice.
        clock.advance(by: .seconds(294))
        try await clock.waitForSleepers(endingAt: .seconds(302))
        #expect(await storeQueries() == afterFirst + 2)
        #expect(heard.clocks(of: 1) == [7])
        #expect(heard.clocks(of: 2) == [7])
    }
}
