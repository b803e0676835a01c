import Foundation
import HistoryStore
import Logging
import StatusCrypto
import StatusWire
import WakuClient

/// Names a community's channels from its signed description, which the control node publishes
/// on the community's own chat (not in archives): the newest one from the store when a sync
/// starts, then each one the relay delivers. Names are only for display: a failure here is
/// logged and never stops a sync.
///
/// ```swift
/// let naming = try ChannelNaming(communityID: id)
/// let history = try await waku.storeAll(naming.newestDescriptionsQuery(days: 30, pubsubTopic: shard), maxPages: 1)
/// if let names = naming.newest(in: history.messages.compactMap(\.message)) {
///     try await database.recordChannelNames(names, communityID: id.string)
/// }
/// ```
public struct ChannelNaming: Sendable {
    /// Descriptions are republished and can be large (a member list): one short page of the
    /// newest is enough, as status-go's own community fetch starts with a page of 1.
    public static let newestPageSize = 5

    public let chat: CommunityDescriptionChannel

    public init(communityID: CommunityID) throws {
        chat = try CommunityDescriptionChannel(communityID: communityID)
    }

    public var contentTopic: String { chat.topic.string }

    /// The newest descriptions of the last `days`, newest first, one page.
    public func newestDescriptionsQuery(days: Int, pubsubTopic: String?, peerAddr: String? = nil, now: Date = Date()) -> StoreQuery {
        var query = StoreQuery.lastDays(days, contentTopics: [contentTopic], pubsubTopic: pubsubTopic, peerAddr: peerAddr, now: now)
        query.ascending = false
        query.pageSize = Self.newestPageSize
        return query
    }

    /// The names of the community-signed description with the highest clock among `messages`;
    /// nil when none is one.
    public func newest(in messages: [WakuMessage]) -> ChannelNames? {
        var newest: ChannelDirectory?
        for message in messages {
            guard case .directory(let directory) = chat.decode(payload: [UInt8](message.payload), contentTopic: message.contentTopic)
            else { continue }
            if directory.clock > newest?.clock ?? 0 { newest = directory }
        }
        return newest.map(names)
    }

    /// The store's form: chat IDs (the community ID and the UUID), as messages carry them.
    public func names(_ directory: ChannelDirectory) -> ChannelNames {
        ChannelNames(clock: directory.clock, channels: directory.channels.map {
            ChannelNames.Channel(chatID: CommunityChatID.channel(chat.communityID, channelUUID: $0.uuid), name: $0.name,
                                 position: $0.position)
        })
    }

    /// Asks the store for the newest descriptions and records the newest one's names. Returns
    /// whether names were recorded; logs what went wrong (names are for display only).
    @discardableResult
    public func refresh(from waku: WakuClient, days: Int, pubsubTopic: String?, peerAddr: String?,
                        into database: HistoryDatabase, logger: Logger) async -> Bool {
        let history: StoreHistory
        do { history = try await waku.storeAll(newestDescriptionsQuery(days: days, pubsubTopic: pubsubTopic, peerAddr: peerAddr), maxPages: 1) } catch {
            logger.warning("channel names: the store query failed; channels are shown by UUID", metadata: ["error": "\(error)"])
            return false
        }
        guard let names = newest(in: history.messages.compactMap(\.message)) else {
            logger.info("channel names: no description signed by the community in the store's newest page")
            return false
        }
        return await record(names, into: database, logger: logger)
    }

    /// Records `names` if newer than those recorded; a failed write is logged, not thrown.
    public func record(_ names: ChannelNames, into database: HistoryDatabase, logger: Logger) async -> Bool {
        do {
            let applied = try await database.recordChannelNames(names, communityID: chat.communityID.string)
            if applied {
                logger.info("channel names", metadata: ["clock": "\(names.clock ?? 0)", "channels": "\(names.channels.map(\.name))"])
            }
            return applied
        } catch {
            logger.warning("channel names were not recorded", metadata: ["error": "\(error)"])
            return false
        }
    }
}
