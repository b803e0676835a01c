import ControlNode
import Foundation
import HistoryStore
import Logging
import StatusCrypto
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
                           channel: ArchiveChannel(communityID: publisher.community.communityID),
                           deliver: { heard.add($0, run: run) })
        }
        func storeQueries() async -> Int { await network.wakuNode.storeQueryCount() }
        let (changes, roster) = AsyncStream.makeStream(of: [FeedSubscriber].self)
        let running = Task { await feed.run(subscribers: changes) }
        defer { running.cancel() }

        // The first turn: the run's 30-day catch-up, beside the relay poll, finds the
        // announcement; its channel and its companion (none here) take one query.
        roster.yield([try subscriber(run: 1)])
        try await clock.waitForSleepers(endingAt: .seconds(2))
        try await waitUntil("the first catch-up is heard") { heard.clocks(of: 1) == [7] }
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
        try await waitUntil("the second run is caught up") { heard.clocks(of: 2) == [7] }
        #expect(await storeQueries() == afterFirst + 1)

        // At 300 s, one periodic query for both runs (their topics fit in one): nothing is heard twice.
        clock.advance(by: .seconds(294))
        try await clock.waitForSleepers(endingAt: .seconds(302))
        try await waitUntil("the periodic catch-up has asked") { await storeQueries() == afterFirst + 2 }
        #expect(heard.clocks(of: 1) == [7])
        #expect(heard.clocks(of: 2) == [7])
    }

    /// Messages each companion received, by run.
    final class Received: Sendable {
        private let runs = Mutex<[Int: Int]>([:])
        func add(run: Int) { runs.withLock { $0[run, default: 0] += 1 } }
        func count(of run: Int) -> Int { runs.withLock { $0[run] ?? 0 } }
    }

    /// A companion that reads anything on its topic (what a description reader finds).
    struct TopicCompanion: FeedCompanion {
        let contentTopic: String
        let chatIDs: [String]
        let received: Received
        let run: Int

        func receive(_ message: WakuMessage, into database: HistoryDatabase, logger: Logger) async -> Bool {
            received.add(run: run)
            return true
        }
    }

    /// Issue 29: every topic the agent follows, companions' too, is asked ten a query, a
    /// community's topics together: 12 communities (24 archive-channel topics, 12 description
    /// topics) take 3 + 2 queries, not 3 + 12.
    @Test func aCatchUpAsksTenTopicsAQueryCompanionsIncluded() async throws {
        let network = try await SyncIntegrationTests.network()
        defer { Task { await network.stop() } }
        try await network.publisher.announce(on: network.waku, clock: 7)
        let feed = AnnouncementFeed(waku: network.waku, database: try SyncIntegrationTests.database(network), settings: .init(), clock: ManualClock())
        let heard = Heard()
        let named = Received()
        let communities = [network.publisher.community.communityID] + (1...11).map { DemoCommunity(seed: UInt64(500 + $0)).communityID }
        let subscribers = communities.enumerated().map { run, id in
            let naming = CommunityDescriptionChannel(communityID: id)
            return FeedSubscriber(run: run, communityID: id, pubsubTopic: WakuClient.defaultPubsubTopic, channel: ArchiveChannel(communityID: id),
                                  companion: TopicCompanion(contentTopic: naming.topic.string, chatIDs: [naming.chatID], received: named, run: run),
                                  deliver: { heard.add($0, run: run) })
        }
        try await network.publisher.describe(on: network.waku, clock: 9)
        let before = await network.wakuNode.storeQueryCount()
        let result = try await feed.catchUp(hours: 24, subscribers: subscribers)
        #expect(await network.wakuNode.storeQueryCount() - before == 5)
        #expect(result.answered == Set(0..<12))
        #expect(heard.clocks(of: 0) == [7])
        #expect(named.count(of: 0) == 1)   // the one description, read by its community's companion
        #expect((1..<12).allSatisfy { named.count(of: $0) == 0 && heard.clocks(of: $0).isEmpty })
    }

    /// Issue 29: the relay is read while a store catch-up waits for a slow store peer; before,
    /// the catch-up ran inside the poll loop and live messages waited for all of it.
    @Test func theRelayIsReadWhileACatchUpWaitsForTheStore() async throws {
        let network = try await SyncIntegrationTests.network()
        defer { Task { await network.stop() } }
        let publisher = network.publisher
        // In the store only (published before the feed subscribes the relay).
        try await publisher.announce(on: network.waku, clock: 7)
        await network.wakuNode.delayStoreQueries(by: .seconds(4))
        let clock = ManualClock()
        let feed = AnnouncementFeed(waku: network.waku, database: try SyncIntegrationTests.database(network), settings: .init(), clock: clock)
        let heard = Heard()
        let (changes, roster) = AsyncStream.makeStream(of: [FeedSubscriber].self)
        let running = Task { await feed.run(subscribers: changes) }
        defer { running.cancel() }
        roster.yield([FeedSubscriber(run: 1, communityID: publisher.community.communityID, pubsubTopic: WakuClient.defaultPubsubTopic,
                                     channel: ArchiveChannel(communityID: publisher.community.communityID), deliver: { heard.add($0, run: 1) })])
        try await clock.waitForSleepers(endingAt: .seconds(2))
        try await waitUntil("the relay is subscribed") { await network.wakuNode.isSubscribed(pubsubTopic: WakuClient.defaultPubsubTopic) }
        // Live, while the store has not answered: heard at the next poll.
        try await publisher.announce(on: network.waku, clock: 8)
        clock.advance(by: .seconds(2))
        try await waitUntil("the live announcement is heard") { heard.clocks(of: 1).contains(8) }
        // Then the store's answer: the relay's came first.
        try await waitUntil("the catch-up is heard") { heard.clocks(of: 1).contains(7) }
        #expect(heard.clocks(of: 1) == [8, 7])
    }

    /// Issue 29: a restart asks the store from where the last full catch-up ended, no later than
    /// the newest announcement the community's sync kept (a run stopped before its sync took what
    /// the store returned must not lose it); a rescan (`fromScratch`) asks for the whole window.
    /// The chats' keys are kept.
    @Test func aRestartCatchesUpFromWhereTheLastCatchUpEnded() async throws {
        let network = try await SyncIntegrationTests.network()
        defer { Task { await network.stop() } }
        let publisher = network.publisher
        let id = publisher.community.communityID
        try await publisher.announce(on: network.waku, clock: 7, timestamp: Date().addingTimeInterval(-2 * 86_400))
        let database = try SyncIntegrationTests.database(network)
        let heard = Heard()
        func subscriber(run: Int, fromScratch: Bool = false) -> FeedSubscriber {
            FeedSubscriber(run: run, communityID: id, pubsubTopic: WakuClient.defaultPubsubTopic, channel: ArchiveChannel(communityID: id),
                           fromScratch: fromScratch, deliver: { heard.add($0, run: run) })
        }
        /// One agent run: its first catch-up, until it has recorded where it ended.
        func start(_ subscriber: FeedSubscriber) async throws {
            try await Task.sleep(for: .milliseconds(2))  // a later end, in milliseconds
            let clock = ManualClock()
            let feed = AnnouncementFeed(waku: network.waku, database: database, settings: .init(), clock: clock)
            let before = try await database.storeCatchUpEnds(of: [id.string])[id.string] ?? 0
            let (changes, roster) = AsyncStream.makeStream(of: [FeedSubscriber].self)
            let running = Task { await feed.run(subscribers: changes) }
            defer { running.cancel() }
            roster.yield([subscriber])
            try await waitUntil("the catch-up is recorded") { try await database.storeCatchUpEnds(of: [id.string])[id.string] ?? 0 > before }
        }
        try await start(subscriber(run: 1))
        #expect(heard.clocks(of: 1) == [7])
        let keys = try await database.chatKeys()
        for chatID in ArchiveChannel(communityID: id).chatIDs { #expect(try keys[chatID] == ChatSymmetricKey.bytes(chatID: chatID)) }

        // Its sync never kept the announcement (stopped first): the next run asks again.
        try await start(subscriber(run: 2))
        #expect(heard.clocks(of: 2) == [7])
        // Once the sync has kept an announcement (ten minutes old), a run resumes: the old one is not asked for.
        try database.saveIndexState(CommunityIndexState(communityID: id.string, indexCID: publisher.indexCID,
                                                        indexClock: UInt64(Date().addingTimeInterval(-600).timeIntervalSince1970 * 1000)))
        try await start(subscriber(run: 3))
        #expect(heard.clocks(of: 3) == [])
        try await start(subscriber(run: 4, fromScratch: true))
        #expect(heard.clocks(of: 4) == [7])
    }
}
