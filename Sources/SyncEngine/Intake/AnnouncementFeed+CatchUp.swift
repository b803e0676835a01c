import Foundation
import Logging
import StatusCrypto
import StatusWire
import WakuClient

/// What one store catch-up did.
public struct CatchUpResult: Sendable {
    /// The runs whose store query answered in full.
    public var answered: Set<Int> = []
    /// Messages the store returned.
    public var received = 0
    /// The first query that did not answer in full (what came before it was used).
    public var failure: StoreError?
}

extension AnnouncementFeed {
    /// One store query over the archive channels of `subscribers` for the last `hours` (`sync`
    /// makes one; the agent's loop makes them). Throws only when cancelled.
    public func catchUp(hours: Double, subscribers: [FeedSubscriber]) async throws -> CatchUpResult {
        var seen = SeenMessages()
        return try await catchUp(hours: hours, subscribers: subscribers, seen: &seen)
    }

    /// One query per shard (the client splits the topics into groups the node accepts), newest
    /// first so that what came before a failure, which is used, holds the announcements that count.
    func catchUp(hours: Double, subscribers: [FeedSubscriber], seen: inout SeenMessages) async throws -> CatchUpResult {
        var result = CatchUpResult()
        let end = Date()
        for (shard, group) in Dictionary(grouping: subscribers, by: \.pubsubTopic).sorted(by: { $0.key < $1.key }) {
            let query = StoreQuery(pubsubTopic: shard, contentTopics: group.flatMap(\.channel.contentTopics),
                                   startTime: Int64((end.timeIntervalSince1970 - hours * 3600) * 1e9),
                                   endTime: Int64(end.timeIntervalSince1970 * 1e9), ascending: false, peerAddr: settings.storePeer)
            let history = try await waku.storeAll(query)
            result.received += history.messages.count
            // Fetched newest first; handed over oldest first, as they were published, so older
            // announcements are not reported as ignored for being older than the newest.
            for item in history.messages.sorted(by: { ($0.message?.timestamp ?? 0) < ($1.message?.timestamp ?? 0) }) {
                guard let message = item.message else { continue }
                await route(message, pubsubTopic: item.pubsubTopic ?? shard, to: group, seen: &seen)
            }
            if history.malformedMessages > 0 {
                logger.warning("store: skipped messages that did not decode", metadata: ["count": "\(history.malformedMessages)", "pubsubTopic": "\(shard)"])
            }
            if let failure = history.failure {
                result.failure = result.failure ?? failure
                var metadata: Logger.Metadata = ["error": "\(failure)", "pubsubTopic": "\(shard)", "received": "\(history.messages.count)"]
                if let fix = failure.fix { metadata["fix"] = "\(fix)" }
                logger.warning("store query incomplete; the messages received before the failure are used", metadata: metadata)
                onStoreFailure(failure, shard)
            } else {
                result.answered.formUnion(group.map(\.run))
            }
        }
        return result
    }

    /// Hands a message to the subscribers whose channel it is on (a shard carries every
    /// community's traffic; the rest is dropped here), once per run.
    func route(_ message: WakuMessage, pubsubTopic: String, to subscribers: [FeedSubscriber], seen: inout SeenMessages) async {
        let hash = message.hash(pubsubTopic: pubsubTopic)
        for subscriber in subscribers where subscriber.pubsubTopic == pubsubTopic {
            if let companion = subscriber.companion, companion.contentTopic == message.contentTopic {
                guard seen.insert("\(subscriber.run)/\(hash)") else { continue }
                await companion.receive(message, into: database, logger: logger.with(community: subscriber.communityID))
            } else if subscriber.channel.contentTopics.contains(message.contentTopic) {
                guard seen.insert("\(subscriber.run)/\(hash)") else { continue }
                switch subscriber.channel.decode(payload: [UInt8](message.payload), contentTopic: message.contentTopic) {
                case .announcement(let announcement):
                    // status-go sends type 43; any type with the link's shape is read: say which are seen.
                    logger.info("archive link", metadata: ["community": "\(subscriber.communityID)", "ammType": "\(announcement.messageType)",
                                                          "clock": "\(announcement.clock)", "signer": "\(announcement.signerID)"])
                    subscriber.deliver(announcement)
                case .rejected(let reason):
                    subscriber.rejected(reason)
                }
            }
        }
    }
}

extension Logger {
    /// This logger with the community in every line's metadata.
    public func with(community: CommunityID) -> Logger {
        var logger = self
        logger[metadataKey: "community"] = "\(community)"
        return logger
    }
}
