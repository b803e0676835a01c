import AgentService
import Foundation
import HistoryStore
import StatusWire
import SyncEngine

// The JSON the local API speaks (docs/agent-api.openapi.json describes each). Every response
// object carries `schemaVersion`; an absent value is `null`, never a missing key; every time is
// milliseconds since 1970 (UTC). The encoders below write each key explicitly for that reason
// (Swift's synthesized `Encodable` leaves nil keys out).

/// The version of the API's JSON (and of `sync --json`, `status --json`, `messages --json`):
/// raised when a field changes meaning or goes away; new fields do not raise it.
public let apiSchemaVersion = 1

/// `{"schemaVersion": 1, "error": {"code": …, "message": …, "retryable": …}}`
struct APIErrorBody: Encodable {
    var code: String
    var message: String
    var retryable: Bool

    enum Keys: String, CodingKey { case schemaVersion, error }
    enum ErrorKeys: String, CodingKey { case code, message, retryable }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(apiSchemaVersion, forKey: .schemaVersion)
        var error = container.nestedContainer(keyedBy: ErrorKeys.self, forKey: .error)
        try error.encode(code, forKey: .code)
        try error.encode(message, forKey: .message)
        try error.encode(retryable, forKey: .retryable)
    }
}

/// A community's settings as the API shows them, defaults filled in.
struct SettingsView: Encodable {
    var community: AgentConfiguration.Community
    var pubsubTopic: String

    enum Keys: String, CodingKey { case mode, from, to, hydration, settleSeconds, concurrency, pubsubTopic }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(community.mode ?? "all", forKey: .mode)
        try container.encode(community.from, forKey: .from)
        try container.encode(community.to, forKey: .to)
        try container.encode((community.hydration ?? .replace).rawValue, forKey: .hydration)
        try container.encode(community.settleSeconds ?? 20, forKey: .settleSeconds)
        try container.encode(community.concurrency ?? 3, forKey: .concurrency)
        try container.encode(pubsubTopic, forKey: .pubsubTopic)
    }
}

/// What the database holds of a community (the API's `history`, and `status --json`).
public struct HistoryView: Encodable {
    public var status: CommunityStatus

    public init(status: CommunityStatus) { self.status = status }

    enum Keys: String, CodingKey {
        case indexCID, indexClock, archivesImported, archivesPending, archivesFailed, archivesOverLimit, archivesUnimportable
        case coveredFrom, coveredTo, messageCount, lastError, lastSuccessAt, waitingForKeys
    }
    enum WaitKeys: String, CodingKey { case kind, item, groupID, keyID, since, messages }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(status.indexCID, forKey: .indexCID)
        try container.encode(status.indexClock, forKey: .indexClock)
        try container.encode(status.archivesImported, forKey: .archivesImported)
        try container.encode(status.archivesPending, forKey: .archivesPending)
        try container.encode(status.archivesFailed, forKey: .archivesFailed)
        try container.encode(status.archivesOverLimit, forKey: .archivesOverLimit)
        try container.encode(status.archivesUnimportable, forKey: .archivesUnimportable)
        // Stored in unix seconds (the index's unit); the API speaks milliseconds.
        try container.encode(status.coveredFrom.map { $0 * 1000 }, forKey: .coveredFrom)
        try container.encode(status.coveredTo.map { $0 * 1000 }, forKey: .coveredTo)
        try container.encode(status.messageCount, forKey: .messageCount)
        try container.encode(status.lastError, forKey: .lastError)
        try container.encode(status.lastSuccessAt, forKey: .lastSuccessAt)
        var waits = container.nestedUnkeyedContainer(forKey: .waitingForKeys)
        for wait in status.keyWaits {
            var entry = waits.nestedContainer(keyedBy: WaitKeys.self)
            try entry.encode(wait.kind.rawValue, forKey: .kind)
            try entry.encode(wait.item, forKey: .item)
            try entry.encode(wait.groupID, forKey: .groupID)
            try entry.encode(wait.keyID, forKey: .keyID)
            try entry.encode(wait.since, forKey: .since)
            try entry.encode(wait.messageCount, forKey: .messages)
        }
    }
}

/// A followed community: how it is followed, its sync's state and its history.
struct CommunityView: Encodable {
    var followed: FollowedCommunityStatus
    var pubsubTopic: String

    enum Keys: String, CodingKey { case communityID, origin, state, settings, history }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(followed.communityID, forKey: .communityID)
        try container.encode(followed.origin.rawValue, forKey: .origin)
        try container.encode(followed.state, forKey: .state)
        try container.encode(SettingsView(community: followed.settings, pubsubTopic: pubsubTopic), forKey: .settings)
        try container.encode(followed.history.map(HistoryView.init(status:)), forKey: .history)
    }
}

/// A response object: `schemaVersion` and the fields of `body`.
public struct Versioned<Body: Encodable>: Encodable {
    public var body: Body

    public init(body: Body) { self.body = body }

    enum Keys: String, CodingKey { case schemaVersion }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(apiSchemaVersion, forKey: .schemaVersion)
        try body.encode(to: encoder)
    }
}

struct CommunityList: Encodable {
    var communities: [CommunityView]
    /// The `after` of the next page; absent on the last one.
    var next: String?
}

struct JoinResult: Encodable {
    var outcome: String
    var community: CommunityView?

    enum Keys: String, CodingKey { case outcome, community }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(community, forKey: .community)
    }
}

struct LeaveResult: Encodable {
    var communityID: String
    var purged: Bool
    var messagesDeleted: Int
}

struct RescanResult: Encodable { var communityID: String; var rescanning: Bool }
/// What `POST /v1/keys` did: counts and the communities resumed, never a key.
struct KeysImportResult: Encodable { var added: Int; var known: Int; var messagesReleased: Int; var resumed: [String] }

/// A stored message as a chat view needs it (the API's pages and `messages --json`).
public struct MessageView: Encodable {
    public var message: StoredMessage
    /// The channel's name from the community's description; null before one is seen.
    public var channelName: String?

    public init(message: StoredMessage, channelName: String?) {
        self.message = message
        self.channelName = channelName
    }

    enum Keys: String, CodingKey {
        case id, chatID, channel, channelName, contentTopic, author, type, typeName, clock, timestamp, text, source, archiveID, payload, cursor
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(message.id, forKey: .id)
        try container.encode(message.chatID, forKey: .chatID)
        try container.encode(ChannelName.uuid(of: message.chatID, in: message.communityID), forKey: .channel)
        try container.encode(channelName, forKey: .channelName)
        try container.encode(message.contentTopic, forKey: .contentTopic)
        try container.encode(message.author, forKey: .author)
        try container.encode(message.type, forKey: .type)
        try container.encode(MessageTypeNames.name(of: message.type), forKey: .typeName)
        try container.encode(message.clock, forKey: .clock)
        try container.encode(message.timestamp, forKey: .timestamp)
        try container.encode(message.text, forKey: .text)
        try container.encode(message.source.rawValue, forKey: .source)
        try container.encode(message.archiveID, forKey: .archiveID)
        try container.encode(message.payload.base64EncodedString(), forKey: .payload)
        try container.encode(MessageCursor(of: message).description, forKey: .cursor)
    }
}

struct MessagePageView: Encodable {
    var page: MessagePage

    enum Keys: String, CodingKey { case messages, before, after }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(page.messages.map { MessageView(message: $0, channelName: page.channels.name(ofChat: $0.chatID)) },
                             forKey: .messages)
        try container.encode(page.older?.description, forKey: .before)
        try container.encode(page.newer?.description, forKey: .after)
    }
}

/// A message the chat client received live, as it posts it.
struct LocalMessageInput: Decodable {
    var id: String
    var chatID: String?
    var contentTopic: String
    var author: String
    var type: Int
    var clock: UInt64?
    /// Milliseconds since 1970.
    var timestamp: Int64
    /// The serialized inner message, base64.
    var payload: String?
    var text: String?
}

struct LocalMessagesInput: Decodable { var messages: [LocalMessageInput] }

struct LocalMessagesResult: Encodable { var inserted: Int; var alreadyStored: Int }

struct HealthView: Encodable {
    var health: AgentHealth

    enum Keys: String, CodingKey { case status, checks }
    enum CheckKeys: String, CodingKey { case name, passed, detail, fix }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(health.status.rawValue, forKey: .status)
        var checks = container.nestedUnkeyedContainer(forKey: .checks)
        for check in health.checks {
            var item = checks.nestedContainer(keyedBy: CheckKeys.self)
            try item.encode(check.name, forKey: .name)
            try item.encode(check.passed, forKey: .passed)
            try item.encode(check.detail, forKey: .detail)
            try item.encode(check.fix, forKey: .fix)
        }
    }
}

