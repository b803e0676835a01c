import Foundation
import HistoryStore
import Logging
import SyncEngine
import StatusCrypto
import StatusWire
import WakuClient

/// Names a community's channels from its signed description, which the control node publishes
/// on the community's own chat (not in archives): the newest one from the store when a sync
/// starts, then each one the relay delivers. Names are only for display: a failure here is
/// logged and never stops a sync.
///
/// ```swift
/// let naming = ChannelNaming(communityID: id)
/// await naming.refresh(from: waku, days: 30, pubsubTopic: shard, peerAddr: nil, into: database, logger: logger)
/// // and for each message the relay delivers on `naming.contentTopic`:
/// if let names = naming.read([message]).names { await naming.record(names, into: database, logger: logger) }
/// ```
public struct ChannelNaming: Sendable {
    /// The first page is small (the newest description is usually on it); later pages are
    /// larger. Anyone can publish on the community's chat (its key derives from the public ID),
    /// so the newest messages may all be others': pages are read until a description the
    /// community signed turns up, as status-go's own community fetch does (a page of 4, then
    /// pages of 50 until the data is found), up to `maxPages`.
    public static let firstPageSize = 4
    public static let laterPageSize = 50
    public static let maxPages = 20

    public let chat: CommunityDescriptionChannel

    public init(communityID: CommunityID) {
        chat = CommunityDescriptionChannel(communityID: communityID)
    }

    public var contentTopic: String { chat.topic.string }

    /// The first page of the last `days`' messages on the community's chat, newest first.
    public func newestDescriptionsQuery(days: Int, pubsubTopic: String?, peerAddr: String? = nil, now: Date = Date()) -> StoreQuery {
        var query = StoreQuery.lastDays(days, contentTopics: [contentTopic], pubsubTopic: pubsubTopic, peerAddr: peerAddr, now: now)
        query.ascending = false
        query.pageSize = Self.firstPageSize
        return query
    }

    /// What a batch of messages from the chat held.
    public struct Reading: Sendable {
        /// The names of the community-signed description with the highest clock; nil if none.
        public var names: ChannelNames?
        /// Messages that were not a description the community signed, by reason.
        public var rejected: [CommunityDescriptionChannel.Rejection: Int] = [:]
    }

    public func read(_ messages: [WakuMessage]) -> Reading {
        var newest: ChannelDirectory?
        var reading = Reading()
        for message in messages {
            switch chat.decode(payload: [UInt8](message.payload), contentTopic: message.contentTopic) {
            case .directory(let directory):
                if directory.clock > newest?.clock ?? 0 { newest = directory }
            case .rejected(let reason):
                reading.rejected[reason, default: 0] += 1
            }
        }
        reading.names = newest.map(names)
        return reading
    }

    /// The store's form: chat IDs (the community ID and the UUID), as messages carry them.
    public func names(_ directory: ChannelDirectory) -> ChannelNames {
        ChannelNames(clock: directory.clock, channels: directory.channels.map {
            ChannelNames.Channel(chatID: CommunityChatID.channel(chat.communityID, channelUUID: $0.uuid), name: $0.name,
                                 position: $0.position)
        })
    }

    /// Reads the store, newest first, until a description the community signed turns up, and
    /// records its names. Returns whether names were recorded; what went wrong is logged (names
    /// are for display: nothing here stops a sync). Cancellation ends it quietly.
    @discardableResult
    public func refresh(from waku: WakuClient, days: Int, pubsubTopic: String?, peerAddr: String?,
                        into database: HistoryDatabase, logger: Logger) async -> Bool {
        var query = newestDescriptionsQuery(days: days, pubsubTopic: pubsubTopic, peerAddr: peerAddr)
        var rejected: [CommunityDescriptionChannel.Rejection: Int] = [:]
        for _ in 0..<Self.maxPages {
            let page: StorePage
            do { page = try await waku.store(query) } catch {
                if Task.isCancelled { return false }
                var metadata: Logger.Metadata = ["error": "\(error)"]
                if let fix = (error as? StoreError)?.fix { metadata["fix"] = "\(fix)" }
                logger.warning("channel names: the store query failed; channels are shown as before", metadata: metadata)
                return false
            }
            let reading = read((page.messages ?? []).compactMap(\.message))
            rejected.merge(reading.rejected, uniquingKeysWith: +)
            if let names = reading.names {
                report(rejected, logger: logger)
                return await record(names, into: database, logger: logger)
            }
            guard let cursor = page.paginationCursor, !cursor.isEmpty, !(page.messages ?? []).isEmpty else { break }
            query.cursor = cursor
            query.pageSize = Self.laterPageSize
        }
        report(rejected, logger: logger)
        logger.info("channel names: no description signed by the community in the store; channels are shown by UUID")
        return false
    }

    /// Forged descriptions are worth a warning: someone tried to rename the community's channels.
    private func report(_ rejected: [CommunityDescriptionChannel.Rejection: Int], logger: Logger) {
        if let forged = rejected[.notSignedByCommunity] {
            logger.warning("channel names: ignored descriptions not signed by the community", metadata: ["count": "\(forged)"])
        }
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

extension ChannelNaming: FeedCompanion {
    public var chatIDs: [String] { [chat.chatID] }

    @discardableResult
    public func receive(_ message: WakuMessage, into database: HistoryDatabase, logger: Logger) async -> Bool {
        let reading = read([message])
        if let names = reading.names {
            _ = await record(names, into: database, logger: logger)
            return true
        }
        if reading.rejected[.notSignedByCommunity] != nil {
            logger.warning("channel names: ignored a description not signed by the community")
        }
        return false
    }
}
