import ChannelNameFeed
import CodexClient
import ControlNode
import Foundation
import HistoryStore
import Logging
import StatusCrypto
import Testing
import WakuClient
@testable import SyncEngine

/// Channel names from the store: the newest description the community signed, found past the
/// messages anyone else can publish on the community's chat.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ChannelNamingTests {
    /// Review: one page of 5 could be filled by others' messages (the chat's key derives from
    /// the public ID), and the description was then never found.
    @Test func theDescriptionIsFoundPastNewerForgeries() async throws {
        let network = try await SyncIntegrationTests.network(maxPageSize: 100)
        defer { Task { await network.stop() } }
        let publisher = network.publisher
        let now = Date()
        try await publisher.describe(on: network.waku, clock: 40, timestamp: now.addingTimeInterval(-3600))
        let forger = try PrivateKey(bytes: Keccak256.hash(Array("not the community".utf8)))
        for n in 0..<30 {
            try await publisher.describe(on: network.waku, clock: 100 + UInt64(n), names: ["forged"], signer: forger,
                                         timestamp: now.addingTimeInterval(Double(n - 60)))
        }
        let database = try SyncIntegrationTests.database(network)
        let naming = ChannelNaming(communityID: publisher.community.communityID)
        let recorded = await naming.refresh(from: network.waku, days: 30, pubsubTopic: nil, peerAddr: nil, into: database,
                                            logger: Logger(label: "test"))
        #expect(recorded)
        let names = try await database.channelNames(communityID: publisher.community.communityID.string)
        #expect(names.clock == 40 && names.channels.map(\.name) == ["general", "dev", "random"])
    }

    /// Review: a store that failed was logged as "no description"; it is a failure, and nothing changes.
    @Test func aFailingStoreRecordsNothing() async throws {
        let network = try await SyncIntegrationTests.network()
        let database = try SyncIntegrationTests.database(network)
        let waku = network.waku
        let communityID = network.publisher.community.communityID
        await network.stop()
        let naming = ChannelNaming(communityID: communityID)
        #expect(await !naming.refresh(from: WakuClient(baseURL: waku.baseURL, retry: .none), days: 30, pubsubTopic: nil, peerAddr: nil,
                                      into: database, logger: Logger(label: "test")))
        #expect(try await database.channelNames(communityID: communityID.string) == .none)
    }
}
