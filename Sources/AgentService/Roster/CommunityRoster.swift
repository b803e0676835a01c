import Foundation
import HistoryStore
import Logging
import PeerHTTP
import ServiceLifecycle
import StatusCrypto
import Synchronization
import SyncEngine

/// The set of followed communities, as one service: one loop owns it, runs one driver per
/// community as a child task, and answers `join`, `leave`, `rescan` and `reload` in order
/// (they come as mail, with a reply). Each change is sent to the announcement feed as the new
/// list of subscribers, and published for the API to read (`snapshot`).
///
/// Stopping (graceful shutdown, or cancelling `run`) cancels every driver: downloads are
/// cancelled, a running import stops unpublished (the next start redoes it), and requests that
/// arrive meanwhile are answered `notRunning`.
final class CommunityRoster: Service, Sendable {
    /// The loop's followers as the API reads them.
    struct Snapshot: Sendable {
        var followers: [Follower] = []
        /// Stopping to start again (rescan, new settings): shown, with state `restarting`.
        var restarting: [Follower] = []
    }

    /// The communities the loop follows now, by ID.
    struct Members: Sendable {
        var active: [CommunityID: Follower] = [:]
        /// What to do once a stopping follower (of that generation) has stopped.
        var afterStop: [CommunityID: (generation: Int, then: AfterStop)] = [:]
    }

    enum AfterStop: Sendable {
        /// Leaving: once stopped, forget it (and purge); if that write fails, start `restore` again.
        case leave(purge: Bool, restore: Follower, reply: @Sendable (Result<Int, AgentControlError>) -> Void)
        case start(Follower)
        case nothing
    }

    let context: AgentContext
    let factory: FollowerFactory
    /// The waits between attempts to start a community whose sync cannot start.
    let startRetry: RetryPolicy
    private let initial: Members
    private let published = Mutex(Snapshot())
    private let mailbox: AsyncStream<AgentMail>
    let post: AsyncStream<AgentMail>.Continuation
    /// Where the feed hears who to serve.
    private let subscribers: AsyncStream<[FeedSubscriber]>.Continuation

    init(context: AgentContext, factory: FollowerFactory, initial: [Follower], startRetry: RetryPolicy,
         subscribers: AsyncStream<[FeedSubscriber]>.Continuation) {
        self.context = context
        self.factory = factory
        self.startRetry = startRetry
        self.subscribers = subscribers
        (mailbox, post) = AsyncStream.makeStream(of: AgentMail.self)
        var members = Members()
        for follower in initial {
            context.metrics.register(follower.communityID.string)
            members.active[follower.communityID] = follower
        }
        self.initial = members
        // Known from the start, so the API answers with them before `run` begins.
        publish(members)
    }

    /// What the loop last published.
    var snapshot: Snapshot { published.withLock { $0 } }
    var initialCommunities: [CommunityID] { initial.active.keys.sorted { $0.string < $1.string } }

    func run() async {
        let members = await cancelWhenGracefulShutdown { [self] in await loop(initial) }
        post.finish()
        subscribers.finish()
        // Requests that arrived as the loop ended are answered, not left waiting.
        for await mail in mailbox { if case .command(let command) = mail { Self.refuse(command) } }
        // A leave cut short by the stop: nothing was forgotten (a restart follows it again).
        for (_, pending) in members.afterStop { if case .leave(_, _, let reply) = pending.then { reply(.failure(.notRunning)) } }
    }

    /// One child per community runs its driver; this loop owns the set of communities and
    /// answers requests to change it, until cancelled. Returns the members as they ended.
    private func loop(_ initial: Members) async -> Members {
        var members = initial
        await withDiscardingTaskGroup { group in
            for follower in members.active.values {
                group.addTask { await self.follow(follower) }
            }
            for await mail in mailbox {
                await handle(mail, members: &members, group: &group)
            }
            context.logger.info("stopping: cancelling downloads and a running import (nothing of it is published)")
            group.cancelAll()
        }
        return members
    }

    /// Sends a request to the loop and waits for its answer (`notRunning` once it has stopped).
    func ask<T: Sendable>(_ command: (@escaping @Sendable (Result<T, AgentControlError>) -> Void) -> AgentCommand) async throws(AgentControlError) -> T {
        let result: Result<T, AgentControlError> = await withCheckedContinuation { continuation in
            let answered = Atomic<Bool>(false)
            let reply: @Sendable (Result<T, AgentControlError>) -> Void = { result in
                if answered.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged { continuation.resume(returning: result) }
            }
            if case .terminated = post.yield(.command(command(reply))) { reply(.failure(.notRunning)) }
        }
        return try result.get()
    }

    private static func refuse(_ command: AgentCommand) {
        switch command {
        case .join(_, let reply): reply(.failure(.notRunning))
        case .leave(_, _, let reply): reply(.failure(.notRunning))
        case .rescan(_, let reply): reply(.failure(.notRunning))
        case .reload(_, let reply): reply(.failure(.notRunning))
        }
    }

    private func handle(_ mail: AgentMail, members: inout Members, group: inout DiscardingTaskGroup) async {
        switch mail {
        case .command(.join(let community, let reply)):
            reply(await join(community, members: &members, group: &group))
        case .command(.leave(let id, let purge, let reply)):
            guard let follower = members.active[id] else {
                return reply(.failure(members.afterStop[id] != nil ? .busy(id.string) : .notFollowed(id.string)))
            }
            guard follower.origin == .api else { return reply(.failure(.setInConfiguration(id.string))) }
            // Forgotten (and purged) once its sync has stopped, in one transaction: if the agent
            // stops first, nothing changed, and the next start follows it again.
            stop(follower, then: .leave(purge: purge, restore: factory.make(follower.settings, origin: .api), reply: reply), members: &members)
        case .command(.rescan(let id, let reply)):
            guard let follower = members.active[id] else { return reply(.failure(members.afterStop[id] != nil ? .busy(id.string) : .notFollowed(id.string))) }
            stop(follower, then: .start(factory.make(follower.settings, origin: follower.origin, rescan: true)), members: &members)
            reply(.success(()))
        case .command(.reload(let configuration, let reply)):
            reply(.success(reload(configuration, members: &members, group: &group)))
        case .followerStopped(let id, let generation):
            guard let pending = members.afterStop[id], pending.generation == generation else { return }
            // Nothing published changes by forgetting a stop that starts nothing: the follower left
            // the published list when it was stopped (`stop`), and only `.start` shows as restarting.
            members.afterStop[id] = nil
            switch pending.then {
            case .nothing:
                context.metrics.unregister(id.string)
            case .start(let follower):
                start(follower, members: &members, group: &group)
            case .leave(let purge, let restore, let reply):
                let result = await finishLeaving(id, purge: purge)
                if case .failure = result {
                    start(restore, members: &members, group: &group)  // as before the request: a retry can work
                } else {
                    context.metrics.unregister(id.string)
                }
                reply(result)
            }
        }
    }

    private func join(_ community: AgentConfiguration.Community, members: inout Members,
                      group: inout DiscardingTaskGroup) async -> Result<JoinOutcome, AgentControlError> {
        let configuration = context.configuration
        let id: CommunityID
        do { id = try configuration.validate(community) } catch { return .failure(.invalid("\(error)")) }
        var community = community
        community.id = id.string  // one spelling, whatever case the client sent
        if members.afterStop[id] != nil { return .failure(.busy(id.string)) }
        // The bandwidth cap is shared by every download: with this community's, each must still
        // be able to keep the minimum rate.
        var everyone = members.active.values.filter { $0.communityID != id }.map(\.settings)
        everyone.append(community)
        var combined = configuration
        combined.communities = everyone
        do { try combined.validateBandwidth() } catch { return .failure(.invalid("\(error)")) }
        if let current = members.active[id] {
            guard current.origin == .api else { return .failure(.setInConfiguration(id.string)) }
            if current.settings == community { return .success(.unchanged) }
        }
        do {
            let settings = try JSONEncoder().encode(community)
            try await context.database.follow(FollowedCommunity(communityID: id.string, settings: settings,
                                                                joinedAt: Int64(Date().timeIntervalSince1970 * 1000)))
        } catch {
            return .failure(.database("\(error)"))
        }
        let follower = factory.make(community, origin: .api)
        if let current = members.active[id] {
            stop(current, then: .start(follower), members: &members)
            return .success(.updated)
        }
        start(follower, members: &members, group: &group)
        context.events.write(.communityJoined(id))
        return .success(.joined)
    }

    private func finishLeaving(_ id: CommunityID, purge: Bool) async -> Result<Int, AgentControlError> {
        let deleted: Int
        do { deleted = try await context.database.unfollow(communityID: id.string, purge: purge) } catch {
            return .failure(.database("\(error)"))
        }
        if purge {
            let directory = factory.archivesDirectory(of: id)
            if FileManager.default.fileExists(atPath: directory.path) {
                do { try FileManager.default.removeItem(at: directory) } catch {
                    // The history is gone. The files stay until the community is joined again
                    // (its sync's start sweeps the directory) or removed by hand: said here.
                    context.logger.error("cannot remove the left community's downloads", metadata: ["directory": "\(directory.path)", "error": "\(error)"])
                }
            }
        }
        context.events.write(.communityLeft(id, purged: purge, messagesDeleted: deleted))
        return .success(deleted)
    }

    func start(_ follower: Follower, members: inout Members, group: inout DiscardingTaskGroup) {
        context.metrics.register(follower.communityID.string)
        members.active[follower.communityID] = follower
        publish(members)
        group.addTask { await self.follow(follower) }
    }

    func stop(_ follower: Follower, then: AfterStop, members: inout Members) {
        members.active[follower.communityID] = nil
        members.afterStop[follower.communityID] = (follower.generation, then)
        publish(members)
        follower.feed.finish()
        follower.stop.finish()
    }

    /// Tells the feed who to serve now, and the API what is followed.
    func publish(_ members: Members) {
        let followers = members.active.values.sorted { $0.communityID.string < $1.communityID.string }
        let restarting = members.afterStop.values.compactMap { pending -> Follower? in
            if case .start(let next) = pending.then { return next }
            return nil
        }.sorted { $0.communityID.string < $1.communityID.string }
        published.withLock { $0 = Snapshot(followers: followers, restarting: restarting) }
        subscribers.yield(followers.map(\.subscriber))
    }
}
