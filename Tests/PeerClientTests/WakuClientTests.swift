import ControlNode
import DemoNetwork
import Foundation
import PeerHTTP
import StatusCrypto
import StatusWire
import Synchronization
import Testing
import WakuClient

/// The nwaku client against an nwaku REST server on 127.0.0.1, over real HTTP.
@Suite(.timeLimit(.minutes(5))) struct WakuClientTests {
    func message(_ n: Int, topic: String = "/waku/1/0x01020304/rfc26") -> WakuMessage {
        WakuMessage(payload: Data("message \(n)".utf8), contentTopic: topic, timestamp: 1_700_000_000_000_000_000 + Int64(n))
    }

    @Test func storeQueriesFollowPaginationAcrossPages() async throws {
        let node = try await DemoWakuNode.start(maxPageSize: 3)
        defer { Task { await node.stop() } }
        for n in 0..<10 { await node.publish(message(n)) }
        await node.publish(message(99, topic: "/waku/1/0xffffffff/rfc26"))
        let waku = WakuClient(baseURL: node.baseURL)
        let history = try await waku.storeAll(StoreQuery(contentTopics: ["/waku/1/0x01020304/rfc26"], pageSize: 100))
        #expect(history.failure == nil)
        let all = history.messages
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

    @Test func relayByPubsubTopicDeliversEveryContentTopicAndDrains() async throws {
        let node = try await DemoWakuNode.start()
        defer { Task { await node.stop() } }
        let waku = WakuClient(baseURL: node.baseURL)
        #expect(try await waku.health().isReady)
        let shard = "/waku/2/rs/16/32"
        await #expect {
            _ = try await waku.relayMessages(pubsubTopic: shard)
        } throws: { error in
            (error as? PeerError)?.kind == .status(404)  // not subscribed yet
        }
        try await waku.subscribe(pubsubTopics: [shard])
        #expect(await node.isSubscribed(pubsubTopic: shard))
        try await waku.publish(message(1, topic: "/waku/1/0xcafebabe/rfc26"), pubsubTopic: shard)
        try await waku.publish(message(2, topic: "/waku/1/0x01020304/rfc26"), pubsubTopic: shard)
        try await waku.publish(message(3), pubsubTopic: "/waku/2/rs/16/64")  // another shard: not relayed here
        let relayed = try await waku.relayMessages(pubsubTopic: shard)
        #expect(Set(relayed.map(\.contentTopic)) == ["/waku/1/0xcafebabe/rfc26", "/waku/1/0x01020304/rfc26"])
        #expect(try await waku.relayMessages(pubsubTopic: shard).isEmpty)
    }

    /// Regression: the autosharding relay API routes Status topics to shard 0/4/60 and answers
    /// 500 under static sharding (nwaku kernel_api/relay.nim:104-115), so it is never used.
    @Test func theAutoshardingRelayAPIFailsUnderStaticSharding() async throws {
        let node = try await DemoWakuNode.start()
        defer { Task { await node.stop() } }
        let response = try await AsyncHTTPClientTransport().send(HTTPRequest(
            method: "POST", url: node.baseURL.appendingPathComponent("relay/v1/auto/subscriptions"),
            headers: ["Content-Type": "application/json"], body: Data(#"["/waku/1/0xcafebabe/rfc26"]"#.utf8)))
        #expect(response.status == 500)
        let unknown = try await AsyncHTTPClientTransport().send(HTTPRequest(url: node.baseURL.appendingPathComponent("no/such/path")))
        #expect(unknown.status == 400)
    }

    @Test func theNodeWideRelayCacheKeepsTheNewestFifty() async throws {
        let node = try await DemoWakuNode.start(shards: ["/waku/2/rs/16/32"])
        defer { Task { await node.stop() } }
        for n in 0..<60 { await node.publish(message(n, topic: "/waku/1/0x0000000\(n % 3)/rfc26")) }
        let relayed = try await WakuClient(baseURL: node.baseURL).relayMessages(pubsubTopic: "/waku/2/rs/16/32")
        #expect(relayed.count == 50)
        #expect(relayed.compactMap(\.timestamp).min() == message(10).timestamp)
    }

    /// Regression: nwaku refuses a page after the first with more than 10 content topics
    /// (statusCode 300); the client asks in groups of at most 10 and merges.
    @Test func moreThanTenTopicsAreAskedInGroupsAcrossPages() async throws {
        let node = try await DemoWakuNode.start(maxPageSize: 2)
        defer { Task { await node.stop() } }
        let topics = (0..<23).map { String(format: "/waku/1/0x%08x/rfc26", $0) }
        for (n, topic) in topics.enumerated() { for k in 0..<3 { await node.publish(message(n * 10 + k, topic: topic)) } }
        let waku = WakuClient(baseURL: node.baseURL, retry: .none)
        // One query with every topic fails from page 2 on, as on a real node.
        var whole = StoreQuery(contentTopics: topics, pageSize: 2)
        whole.cursor = try await waku.store(whole).paginationCursor
        await #expect {
            _ = try await waku.store(whole)
        } throws: { error in
            (error as? PeerError)?.kind == .status(300)
        }
        let history = try await waku.storeAll(StoreQuery(contentTopics: topics, pageSize: 2))
        #expect(history.failure == nil)
        #expect(history.messages.count == 69)
        #expect(Set(history.messages.compactMap(\.messageHash)).count == 69)
    }

    /// Regression: a failing later page used to throw away the pages already fetched.
    @Test func aFailingLaterPageKeepsThePagesBefore() async throws {
        let node = try await DemoWakuNode.start(maxPageSize: 2)
        defer { Task { await node.stop() } }
        for n in 0..<6 { await node.publish(message(n)) }
        let transport = FailingAfter(requests: 2, status: 400)
        let waku = WakuClient(baseURL: node.baseURL, transport: transport, retry: .none)
        let history = try await waku.storeAll(StoreQuery(contentTopics: ["/waku/1/0x01020304/rfc26"]))
        #expect(history.messages.count == 4)
        guard case .peer(let error)? = history.failure else { Issue.record("expected a peer failure"); return }
        #expect(error.kind == .status(400))
    }

    /// Regression: without a store peer nwaku answers 412; the error says how to configure one,
    /// and `peerAddr` makes the same node answer.
    @Test func noStorePeerSaysHowToConfigureOne() async throws {
        let node = try await DemoWakuNode.start(storeNode: nil)
        defer { Task { await node.stop() } }
        await node.publish(message(1))
        let waku = WakuClient(baseURL: node.baseURL, retry: .none)
        let query = StoreQuery(contentTopics: ["/waku/1/0x01020304/rfc26"])
        let history = try await waku.storeAll(query)
        guard case .noStorePeer? = history.failure else { Issue.record("expected noStorePeer, got \(String(describing: history.failure))"); return }
        #expect(history.failure?.isRetryable == false)
        #expect("\(history.failure!)".contains("--store-peer") && "\(history.failure!)".contains("--storenode"))
        var withPeer = query
        withPeer.peerAddr = "/dns4/store.example/tcp/30303/p2p/16Uiu2HAmStore"
        #expect(try await waku.storeAll(withPeer).messages.count == 1)
    }

    /// A store peer that could not be dialled (body statusCode 503) and a node still starting
    /// (404 "…not available while initializing.") are retried.
    @Test func unreachableStorePeerAndInitializingNodeAreRetried() async throws {
        let node = try await DemoWakuNode.start()
        defer { Task { await node.stop() } }
        await node.publish(message(1))
        let retry = RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(10), multiplier: 1, maxDelay: .milliseconds(10))
        for answer in [Scripted.bodyStatus(503), .initializing] {
            let transport = ScriptedTransport(first: [answer, answer])
            let waku = WakuClient(baseURL: node.baseURL, transport: transport, retry: retry)
            let page = try await waku.store(StoreQuery(contentTopics: ["/waku/1/0x01020304/rfc26"]))
            #expect(page.messages?.count == 1)
            #expect(transport.count == 3)
        }
    }

    /// Regression (issue 9, defect 10): one malformed message failed the whole store page, which
    /// was then reported as the node being unreachable. It is skipped and counted.
    @Test func aMalformedMessageIsSkippedNotThePage() async throws {
        let node = try await DemoWakuNode.start()
        defer { Task { await node.stop() } }
        let page = #"{"requestId":"x","statusCode":200,"statusDesc":"OK","messages":[{"messageHash":"0x01","message":{"payload":"!!not base64!!","contentTopic":"/a"}},{"messageHash":"0x02","message":{"payload":"aGk=","contentTopic":"/a","timestamp":5}}]}"#
        let transport = ScriptedTransport(first: [.body(page)])
        let history = try await WakuClient(baseURL: node.baseURL, transport: transport, retry: .none)
            .storeAll(StoreQuery(contentTopics: ["/a"]))
        #expect(history.failure == nil)
        #expect(history.messages.map(\.messageHash) == ["0x02"])
        #expect(history.malformedMessages == 1)
    }

    @Test func healthIsReadOnlyFromNodeHealth() async throws {
        let node = try await DemoWakuNode.start()
        defer { Task { await node.stop() } }
        let waku = WakuClient(baseURL: node.baseURL)
        #expect(try await waku.health() == NodeHealth(nodeHealth: "READY"))
        await node.setHealth("INITIALIZING")
        #expect(try await waku.health().isReady == false)
        // A starting node's store answers 404 "…not available while initializing.": retryable, not "not found".
        await #expect {
            _ = try await WakuClient(baseURL: node.baseURL, retry: .none).store(StoreQuery(contentTopics: ["/waku/1/0x01020304/rfc26"]))
        } throws: { error in
            (error as? PeerError)?.isInitializing == true
        }
    }

    @Test func announcementsRoundTripThroughTheNode() async throws {
        let node = try await DemoWakuNode.start()
        defer { Task { await node.stop() } }
        let community = DemoCommunity(seed: 3, memberCount: 1)
        let channel = ArchiveChannel(communityID: community.communityID)
        let cid = (try! CID.codex(of: [1, 2, 3])).manifestCID
        var random = SeededGenerator(seed: 1)
        for (chatID, signer) in [(CommunityChatID.memberUpdate(community.communityID), community.communityKey),
                                 (CommunityChatID.magnetlinks(community.communityID), community.members[0].key)] {
            let payload = try AnnouncementFactory.payload(clock: 42, link: cid.string, chatID: chatID, communityKey: signer,
                                                          ownerKey: community.ownerKey, random: &random)
            await node.publish(WakuMessage(payload: Data(payload), contentTopic: ContentTopic(chatID: chatID).string, timestamp: 1))
        }
        let stored = try await WakuClient(baseURL: node.baseURL).storeAll(StoreQuery(contentTopics: channel.contentTopics)).messages
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

/// Answers the first `requests` requests through a real transport, then `status`.
final class FailingAfter: HTTPTransport {
    let real = AsyncHTTPClientTransport()
    let left: Mutex<Int>
    let status: Int
    init(requests: Int, status: Int) { left = Mutex(requests); self.status = status }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let pass = left.withLock { left in defer { left -= 1 }; return left > 0 }
        return pass ? try await real.send(request) : HTTPResponse(status: status, body: Data("refused".utf8))
    }

    func download(_ request: HTTPRequest, to file: URL, received: @escaping @Sendable (Data, Int64) -> Void) async throws -> (status: Int, bytes: Int64) {
        try await real.download(request, to: file, received: received)
    }
}

enum Scripted: Sendable {
    /// HTTP 200 with a store body whose statusCode is this.
    case bodyStatus(Int)
    /// nwaku's 404 while its protocols are not mounted yet.
    case initializing
    /// HTTP 200 with this body.
    case body(String)

    var response: HTTPResponse {
        switch self {
        case .bodyStatus(let code):
            return HTTPResponse(status: 200, body: Data(#"{"requestId":"x","statusCode":\#(code),"statusDesc":"peer dial failure","messages":[]}"#.utf8))
        case .initializing:
            return HTTPResponse(status: 404, body: Data("/store endpoints are not available while initializing.".utf8))
        case .body(let text):
            return HTTPResponse(status: 200, body: Data(text.utf8))
        }
    }
}

/// Answers scripted responses first, then passes requests to a real transport; counts requests.
final class ScriptedTransport: HTTPTransport {
    let real = AsyncHTTPClientTransport()
    let script: Mutex<[Scripted]>
    let requests = Mutex(0)
    init(first: [Scripted]) { script = Mutex(first) }
    var count: Int { requests.withLock { $0 } }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        requests.withLock { $0 += 1 }
        if let next = script.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return next.response }
        return try await real.send(request)
    }

    func download(_ request: HTTPRequest, to file: URL, received: @escaping @Sendable (Data, Int64) -> Void) async throws -> (status: Int, bytes: Int64) {
        try await real.download(request, to: file, received: received)
    }
}
