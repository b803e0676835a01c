import Foundation
import StatusWire

/// A 14/WAKU2 message as the nwaku REST API carries it in JSON (payload and meta base64,
/// timestamp in nanoseconds).
public struct WakuMessage: Codable, Sendable, Hashable {
    public var payload: Data
    public var contentTopic: String
    public var version: UInt32?
    public var timestamp: Int64?
    public var meta: Data?
    public var ephemeral: Bool?

    public init(payload: Data, contentTopic: String, version: UInt32? = 1, timestamp: Int64?, meta: Data? = nil, ephemeral: Bool? = false) {
        self.payload = payload
        self.contentTopic = contentTopic
        self.version = version
        self.timestamp = timestamp
        self.meta = meta
        self.ephemeral = ephemeral
    }

    /// The deterministic message hash (`0x` + hex), used to de-duplicate relay and store copies.
    public func hash(pubsubTopic: String) -> String {
        var wire = WireWaku2Message()
        wire.payload = payload
        wire.contentTopic = contentTopic
        wire.timestamp = timestamp ?? 0
        wire.meta = meta ?? Data()
        return "0x" + WakuMessageHash.compute(pubsubTopic: pubsubTopic, message: wire).map { String(format: "%02x", $0) }.joined()
    }
}

/// One store answer's message with its hash and pubsub topic.
public struct StoredWakuMessage: Codable, Sendable, Hashable {
    public var messageHash: String?
    public var pubsubTopic: String?
    public var message: WakuMessage?

    public init(messageHash: String?, pubsubTopic: String?, message: WakuMessage?) {
        self.messageHash = messageHash
        self.pubsubTopic = pubsubTopic
        self.message = message
    }
}

/// A store v3 query (`GET /store/v3/messages`).
public struct StoreQuery: Sendable, Equatable {
    public var pubsubTopic: String?
    public var contentTopics: [String]
    /// Unix nanoseconds, inclusive.
    public var startTime: Int64?
    public var endTime: Int64?
    public var pageSize: Int
    public var ascending: Bool
    public var cursor: String?
    /// The store node to ask (a libp2p multiaddr, `/dns4/…/tcp/30303/p2p/16Uiu2…`). Without it
    /// nwaku asks its `--storenode`, or answers 412 when it has none (`store/handlers.nim:232-243`).
    public var peerAddr: String?

    public init(pubsubTopic: String? = nil, contentTopics: [String], startTime: Int64? = nil, endTime: Int64? = nil,
                pageSize: Int = 100, ascending: Bool = true, cursor: String? = nil, peerAddr: String? = nil) {
        self.peerAddr = peerAddr
        self.pubsubTopic = pubsubTopic
        self.contentTopics = contentTopics
        self.startTime = startTime
        self.endTime = endTime
        self.pageSize = pageSize
        self.ascending = ascending
        self.cursor = cursor
    }

    /// The last `days` days up to `now`.
    public static func lastDays(_ days: Int, contentTopics: [String], pubsubTopic: String? = nil, peerAddr: String? = nil,
                                now: Date = Date()) -> StoreQuery {
        let end = Int64(now.timeIntervalSince1970 * 1e9)
        return StoreQuery(pubsubTopic: pubsubTopic, contentTopics: contentTopics,
                          startTime: end - Int64(days) * 86_400 * 1_000_000_000, endTime: end, peerAddr: peerAddr)
    }
}

public struct StorePage: Codable, Sendable {
    public var requestId: String?
    public var statusCode: Int?
    public var statusDesc: String?
    public var messages: [StoredWakuMessage]?
    public var paginationCursor: String?
    /// Messages of the page that did not decode (e.g. a payload that is not base64): skipped and
    /// counted, so one bad message from a peer does not lose the page.
    public var malformedMessages = 0

    enum CodingKeys: String, CodingKey {
        case requestId, statusCode, statusDesc, messages, paginationCursor
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        requestId = try container.decodeIfPresent(String.self, forKey: .requestId)
        statusCode = try container.decodeIfPresent(Int.self, forKey: .statusCode)
        statusDesc = try container.decodeIfPresent(String.self, forKey: .statusDesc)
        paginationCursor = try container.decodeIfPresent(String.self, forKey: .paginationCursor)
        let items = try container.decodeIfPresent([Lenient<StoredWakuMessage>].self, forKey: .messages)
        messages = items?.compactMap(\.value)
        malformedMessages = items?.filter { $0.value == nil }.count ?? 0
    }

    public init(requestId: String? = nil, statusCode: Int? = 200, statusDesc: String? = "OK",
                messages: [StoredWakuMessage], paginationCursor: String?) {
        self.requestId = requestId
        self.statusCode = statusCode
        self.statusDesc = statusDesc
        self.messages = messages
        self.paginationCursor = paginationCursor
    }
}

/// One element of a JSON array that may fail to decode on its own without failing the array.
public struct Lenient<Value: Decodable & Sendable>: Decodable, Sendable {
    public let value: Value?

    public init(from decoder: any Decoder) throws {
        value = try? Value(from: decoder)
    }
}
