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
    /// How far back a catch-up that resumes asks before where the last one ended: a message may
    /// reach the store after a query that ended past its timestamp (the sender's clock, or a
    /// store that synced it late). What is asked twice is handed on once per run, and the
    /// machine ignores an announcement of an index it has processed.
    static var resumeOverlap: Duration { .seconds(3600) }
    /// The companions' topics are read newest first, in pages of this many (status-go reads
    /// the community's chat in pages of 50), until each has found what it reads.
    static var companionPageSize: Int { 50 }
    static var companionMaxPages: Int { 20 }

    /// One store catch-up over the archive channels of `subscribers` for the last `hours` (`sync`
    /// makes one; the agent's loop makes them). Throws only when cancelled.
    public func catchUp(hours: Double, subscribers: [FeedSubscriber]) async throws -> CatchUpResult {
        try await catchUp(hours: hours, subscribers: subscribers, seen: SharedSeenMessages(), resume: false, record: false)
    }

    /// Asks the store for every topic the subscribers follow, ten topics a query (the most
    /// nwaku serves past the first page), a community's topics in one query: its archive
    /// channels whole, oldest handed on first, so what came before a failure, which is used,
    /// holds the announcements that count; its companion's topic newest first until it finds
    /// what it reads. `resume`: a run starts where its community may start again
    /// (`storeCatchUpResumePoints`, less `resumeOverlap`; the whole window for a `fromScratch`
    /// run). `record`: where this one answered in full is recorded (the agent's catch-ups, whose
    /// windows follow each other while it runs). Throws only when cancelled.
    func catchUp(hours: Double, subscribers: [FeedSubscriber], seen: SharedSeenMessages, resume: Bool, record: Bool) async throws -> CatchUpResult {
        var result = CatchUpResult()
        guard !subscribers.isEmpty else { return result }
        await prepareChatKeys(for: subscribers)
        let end = Date()
        let endNanos = Int64(end.timeIntervalSince1970 * 1e9)
        let starts = await startTimes(of: subscribers, windowStart: endNanos - Int64(hours * 3600 * 1e9), end: endNanos, resume: resume)
        var incomplete: Set<Int> = []
        for (shard, group) in Dictionary(grouping: subscribers, by: \.pubsubTopic).sorted(by: { $0.key < $1.key }) {
            // Oldest start first, so that the runs sharing a query have about the same window.
            let ordered = group.sorted { starts[$0.run]! < starts[$1.run]! }
            for batch in Self.batches(ordered, topics: { $0.channel.contentTopics.count }) {
                let answered = try await catchUpChannels(of: batch, shard: shard, start: starts[batch[0].run]!, end: endNanos,
                                                         seen: seen, result: &result)
                if !answered { incomplete.formUnion(batch.map(\.run)) }
            }
            let companions = ordered.filter { $0.companion != nil }
            for batch in Self.batches(companions, topics: { _ in 1 }) {
                try await catchUpCompanions(of: batch, shard: shard, start: starts[batch[0].run]!, end: endNanos, seen: seen)
            }
        }
        result.answered = Set(subscribers.map(\.run)).subtracting(incomplete)
        if record { await recordCatchUp(of: subscribers.filter { result.answered.contains($0.run) }, to: end) }
        return result
    }

    /// Runs packed into queries of at most `maxContentTopicsPerQuery` topics, a run's topics
    /// never split (its announcements are then handed on in order).
    static func batches(_ subscribers: [FeedSubscriber], topics: (FeedSubscriber) -> Int) -> [[FeedSubscriber]] {
        var batches: [[FeedSubscriber]] = []
        var current: [FeedSubscriber] = []
        var count = 0
        for subscriber in subscribers {
            let needed = topics(subscriber)
            if !current.isEmpty && count + needed > WakuClient.maxContentTopicsPerQuery {
                batches.append(current)
                (current, count) = ([], 0)
            }
            current.append(subscriber)
            count += needed
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    /// The runs' archive channels from `start`; false when the store did not answer in full.
    private func catchUpChannels(of batch: [FeedSubscriber], shard: String, start: Int64, end: Int64, seen: SharedSeenMessages,
                                 result: inout CatchUpResult) async throws -> Bool {
        let query = StoreQuery(pubsubTopic: shard, contentTopics: batch.flatMap(\.channel.contentTopics), startTime: start, endTime: end,
                               ascending: false, peerAddr: settings.storePeer)
        let history = try await waku.storeAll(query)
        result.received += history.messages.count
        // Fetched newest first; handed over oldest first, as they were published, so the store's
        // older announcements are not reported as ignored for being older than its newest. (One
        // the relay delivered meanwhile may still come first: the machine ignores the older.)
        for item in history.messages.sorted(by: { ($0.message?.timestamp ?? 0) < ($1.message?.timestamp ?? 0) }) {
            guard let message = item.message else { continue }
            await route(message, pubsubTopic: item.pubsubTopic ?? shard, to: batch, seen: seen)
        }
        if history.malformedMessages > 0 {
            logger.warning("store: skipped messages that did not decode", metadata: ["count": "\(history.malformedMessages)", "pubsubTopic": "\(shard)"])
        }
        guard let failure = history.failure else { return true }
        result.failure = result.failure ?? failure
        var metadata: Logger.Metadata = ["error": "\(failure)", "pubsubTopic": "\(shard)", "received": "\(history.messages.count)"]
        if let fix = failure.fix { metadata["fix"] = "\(fix)" }
        logger.warning("store query incomplete; the messages received before the failure are used", metadata: metadata)
        onStoreFailure(failure, shard)
        return false
    }

    /// The runs' companion topics, newest first, page after page until each companion found
    /// what it reads. What goes wrong is logged: names are for display and never stop a sync.
    private func catchUpCompanions(of batch: [FeedSubscriber], shard: String, start: Int64, end: Int64, seen: SharedSeenMessages) async throws {
        var waiting = Set(batch.map(\.run))
        var query = StoreQuery(pubsubTopic: shard, contentTopics: batch.compactMap(\.companion?.contentTopic), startTime: start, endTime: end,
                               pageSize: Self.companionPageSize, ascending: false, peerAddr: settings.storePeer)
        for _ in 0..<Self.companionMaxPages {
            let page: StorePage
            do { page = try await waku.store(query) } catch {
                try Task.checkCancellation()
                var metadata: Logger.Metadata = ["error": "\(error)", "pubsubTopic": "\(shard)"]
                if let fix = (error as? StoreError)?.fix { metadata["fix"] = "\(fix)" }
                logger.warning("channel names: the store query failed; channels are shown as before", metadata: metadata)
                return
            }
            for item in page.messages ?? [] {
                guard let message = item.message else { continue }
                let hash = message.hash(pubsubTopic: item.pubsubTopic ?? shard)
                for subscriber in batch where waiting.contains(subscriber.run) && subscriber.companion?.contentTopic == message.contentTopic {
                    guard let companion = subscriber.companion else { continue }
                    // Read even when the relay handed it on already: receiving is idempotent (the
                    // newest names are kept), and a description found ends this run's paging.
                    _ = seen.insert("\(subscriber.run)/\(hash)")
                    if await companion.receive(message, into: database, logger: logger.with(community: subscriber.communityID)) {
                        waiting.remove(subscriber.run)
                    }
                }
            }
            guard !waiting.isEmpty, let cursor = page.paginationCursor, !cursor.isEmpty, !(page.messages ?? []).isEmpty else { return }
            query.cursor = cursor
        }
    }

    /// Where each run's query starts, in Unix nanoseconds: the window's start, or, resuming,
    /// where its community may start again (`storeCatchUpResumePoints`) less `resumeOverlap`,
    /// never past `end` (a clock that went back, a database from a host ahead in time).
    private func startTimes(of subscribers: [FeedSubscriber], windowStart: Int64, end: Int64, resume: Bool) async -> [Int: Int64] {
        var starts = Dictionary(subscribers.map { ($0.run, windowStart) }, uniquingKeysWith: { first, _ in first })
        guard resume else { return starts }
        let points: [String: Int64]
        do { points = try await database.storeCatchUpResumePoints(of: subscribers.filter { !$0.fromScratch }.map(\.communityID.string)) } catch {
            logger.warning("cannot read where the last store catch-up ended; asking for the whole window", metadata: ["error": "\(error)"])
            return starts
        }
        let overlap = Self.resumeOverlap.components.seconds * 1_000_000_000
        for subscriber in subscribers where !subscriber.fromScratch {
            guard let point = points[subscriber.communityID.string] else { continue }
            let (nanos, overflow) = point.multipliedReportingOverflow(by: 1_000_000)
            guard !overflow else { continue }
            starts[subscriber.run] = min(end, max(windowStart, nanos - overlap))
        }
        return starts
    }

    /// Records where the catch-up of these runs' communities ended; a failed write is logged
    /// (the next start then asks for more than it needs, and misses nothing).
    private func recordCatchUp(of subscribers: [FeedSubscriber], to end: Date) async {
        do { try await database.recordStoreCatchUp(of: subscribers.map(\.communityID.string), to: Int64(end.timeIntervalSince1970 * 1000)) } catch {
            logger.warning("cannot record where the store catch-up ended; the next start asks for more", metadata: ["error": "\(error)"])
        }
    }

    /// Keeps in the database the keys of the subscribers' chats not kept yet, deriving those
    /// this process does not know (PBKDF2, milliseconds each), here beside the relay polls:
    /// the next start derives none. A failed write is logged: they are derived again next time.
    func prepareChatKeys(for subscribers: [FeedSubscriber]) async {
        let needed = Set(subscribers.flatMap { $0.channel.chatIDs + ($0.companion?.chatIDs ?? []) }).subtracting(keptChatKeys.chatIDs)
        guard !needed.isEmpty else { return }
        var keys: [String: [UInt8]] = [:]
        for chatID in needed.sorted() {
            if Task.isCancelled { return }
            let known = ChatSymmetricKey.isKnown(chatID: chatID)
            do { keys[chatID] = try ChatSymmetricKey.bytes(chatID: chatID) } catch {
                logger.error("cannot derive a chat key", metadata: ["chat": "\(chatID)", "error": "\(error)"])
            }
            if !known { await Task.yield() }
        }
        do {
            try await database.keepChatKeys(keys)
            keptChatKeys.add(keys.keys)
        } catch {
            logger.warning("cannot keep the chat keys; they are derived again at the next start", metadata: ["error": "\(error)"])
        }
    }

    /// The keys kept by earlier starts, into this process's table (`ChatSymmetricKey`).
    func rememberKeptChatKeys() async {
        do {
            let kept = try await database.chatKeys()
            ChatSymmetricKey.remember(kept)
            keptChatKeys.add(kept.keys)
        } catch {
            logger.warning("cannot read the kept chat keys; deriving them again", metadata: ["error": "\(error)"])
        }
    }

    /// Hands a message to the subscribers whose channel it is on (a shard carries every
    /// community's traffic; the rest is dropped here), once per run.
    func route(_ message: WakuMessage, pubsubTopic: String, to subscribers: [FeedSubscriber], seen: SharedSeenMessages) async {
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
