import ControlNode
import DemoNetwork
import Foundation
import PeerHTTP
import StatusCrypto
import StatusWire
import Testing
import WakuClient

/// The nwaku client against an nwaku REST server on 127.0.0.1, over real HTTP.
@Suite struct WakuClientTests {
    func message(_ n: Int, topic: String = "/waku/1/0x01020304/rfc26") -> WakuMessage {
        WakuMessage(payload: Data("message \(n)".utf8), contentTopic: topic, timestamp: 1_700_000_000_000_000_000 + Int64(n))
    }

    @Test func storeQueriesFollowPaginationAcrossPages() async throws {
        let node = try await DemoWakuNode.start(maxPageSize: 3)
        defer { Task { await node.stop() } }
        for n in 0..<10 { await node.publish(message(n)) }
        await node.publish(message(99, topic: "/waku/1/0xffffffff/rfc26"))
        let waku = WakuClient(baseURL: node.baseURL)
        let all = try await waku.storeAll(StoreQuery(contentTopics: ["/waku/1/0x01020304/rfc26"], pageSize: 100))
        #expect(all.compactMap { $0.message.map { String(decoding: $0.payload, as: UTF8.self) } } == (0..<10).map { "message \($0)" })
        #expect(await node.storeQueryCount() == 4)
        #expect(all.allSatisfy { $0.messageHash == $0.message?.hash(pubsubTopic: DemoWakuNode.defaultPubsubTopic) })
    }

    @Test func nanosecondTimestampsAboveTwoToThe53rdDecodeExactly() throws {
        // As nwaku sends them: a JSON number a Double cannot hold. The message hash depends on it.
        let json = #"{"payload":"aGk=","contentTopic":"/waku/1/0x01020304/rfc26","version":1,"timestamp":1700000000123456789}"#
        let message = try JSONDecoder().decode(WakuMessage.self, from: Data(json.utf8))
        #expect(message.timestamp == 1_700_000_000_123_456_789)
        #expect(message.hash(pubsubTopic: "/waku/2/rs/16/32")
                == WakuMessage(payload: Data("hi".utf8), contentTopic: "/waku/1/0x01020304/rfc26", timestamp: 1_700_000_000_123_456_789)
                    .hash(pubsubTopic: "/waku/2/rs/16/32"))
    }

    @Test func storeRespectsTheTimeWindow() async throws {
        let node = try await DemoWakuNode.start()
        defer { Task { await node.stop() } }
        for n in 0..<10 { await node.publish(message(n)) }
        let waku = WakuClient(baseURL: node.baseURL)
        let page = try await waku.store(StoreQuery(contentTopics: ["/waku/1/0x01020304/rfc26"],
                                                   startTime: 1_700_000_000_000_000_003, endTime: 1_700_000_000_000_000_005))
        #expect(page.messages?.count == 3)
    }

    @Test func relaySubscriptionDeliversAndDrains() async throws {
        let node = try await DemoWakuNode.start()
        defer { Task { await node.stop() } }
        let waku = WakuClient(baseURL: node.baseURL)
        #expect(try await waku.health())
        let topic = "/waku/1/0xcafebabe/rfc26"
        try await waku.subscribe([topic])
        try await waku.publish(message(1, topic: topic))
        try await waku.publish(message(2, topic: topic))
        #expect(try await waku.relayMessages(contentTopic: topic).count == 2)
        #expect(try await waku.relayMessages(contentTopic: topic).isEmpty)
        try await waku.unsubscribe([topic])
        try await waku.publish(message(3, topic: topic))
        await #expect {
            _ = try await waku.relayMessages(contentTopic: topic)
        } throws: { error in
            (error as? PeerError)?.kind == .status(404)
        }
    }

    @Test func announcementsRoundTripThroughTheNode() async throws {
        let node = try await DemoWakuNode.start()
        defer { Task { await node.stop() } }
        let community = DemoCommunity(seed: 3, memberCount: 1)
        let channel = try ArchiveChannel(communityID: community.communityID)
        let cid = CID.contentAddress(of: [1, 2, 3])
        var random = SeededGenerator(seed: 1)
        for (chatID, signer) in [(CommunityChatID.memberUpdate(community.communityID), community.communityKey),
                                 (CommunityChatID.magnetlinks(community.communityID), community.members[0].key)] {
            let payload = try AnnouncementFactory.payload(clock: 42, link: cid.string, chatID: chatID, communityKey: signer,
                                                          ownerKey: community.ownerKey, random: &random)
            await node.publish(WakuMessage(payload: Data(payload), contentTopic: ContentTopic(chatID: chatID).string, timestamp: 1))
        }
        let stored = try await WakuClient(baseURL: node.baseURL).storeAll(StoreQuery(contentTopics: channel.contentTopics))
        let decoded = stored.compactMap { item -> ArchiveAnnouncement? in
            guard let message = item.message,
                  case .announcement(let a) = channel.decode(payload: [UInt8](message.payload), contentTopic: message.contentTopic)
            else { return nil }
            return a
        }
        #expect(decoded.count == 2)
        #expect(decoded.allSatisfy { $0.clock == 42 && $0.indexCID == cid })
        #expect(decoded.filter { $0.signerID == community.communityID }.count == 1)
    }
}
