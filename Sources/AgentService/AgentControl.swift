import Foundation
import HistoryStore
import StatusCrypto

/// Where the agent got a community from: the configuration file (changed by editing the file and
/// sending SIGHUP) or the local API (changed through the API, remembered in the database).
public enum CommunityOrigin: String, Sendable, Codable {
    case configuration
    case api
}

/// What `HistoryAgent.join` did.
public enum JoinOutcome: String, Sendable, Codable {
    /// Now followed (and remembered across restarts).
    case joined
    /// Already followed through the API with other settings: restarted with these.
    case updated
    /// Already followed with these settings: nothing changed.
    case unchanged
}

/// What `HistoryAgent.reload` changed.
public struct ReloadSummary: Sendable, Equatable, Codable {
    public var started: [String] = []
    public var stopped: [String] = []
    public var restarted: [String] = []
    /// Settings that differ in the file but take effect only when the agent is restarted (the
    /// database, the peers' URLs, ports).
    public var needRestart: [String] = []
}

/// Why the agent refused a request to change what it follows. Each case says what a retry can do.
public enum AgentControlError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The settings are not valid (the message says which): retrying the same request fails again.
    case invalid(String)
    /// The community is not followed: join it first.
    case notFollowed(String)
    /// The community comes from the configuration file: change it there and send SIGHUP.
    case setInConfiguration(String)
    /// The community is being stopped (left or restarted): retry in a moment.
    case busy(String)
    /// The database could not be written: nothing changed; a retry may work.
    case database(String)
    /// The key store (`<database>.keys`) could not be read or written: nothing changed there;
    /// the message says why (a damaged file needs the user, a full disk may clear).
    case keyStore(String)
    /// The agent is not running (not started yet, or stopping).
    case notRunning

    public var isRetryable: Bool {
        switch self {
        case .busy, .database, .notRunning, .keyStore: return true
        case .invalid, .notFollowed, .setInConfiguration: return false
        }
    }

    public var description: String {
        switch self {
        case .invalid(let reason): return reason
        case .notFollowed(let id): return "community \(id) is not followed (join it first)"
        case .setInConfiguration(let id):
            return "community \(id) is set in the configuration file: change it there and send SIGHUP to the agent"
        case .busy(let id): return "community \(id) is stopping; try again in a moment"
        case .database(let reason): return "the database could not be written: \(reason)"
        case .keyStore(let reason): return "the key store could not be updated: \(reason)"
        case .notRunning: return "the agent is not running"
        }
    }
}

/// A followed community as the API shows it: how it is followed, its state and its history.
public struct FollowedCommunityStatus: Sendable, Codable, Equatable {
    public var communityID: String
    public var origin: CommunityOrigin
    public var settings: AgentConfiguration.Community
    /// The sync's state: idle, settling, working, importing, backoff, waiting-for-key, start-failed.
    public var state: String
    /// What the database holds of it (nil before anything was recorded).
    public var history: CommunityStatus?
}

/// A page of the followed communities (`HistoryAgent.followedCommunities(after:limit:)`).
public struct FollowedCommunitiesPage: Sendable {
    public var communities: [FollowedCommunityStatus]
    /// Where the next page starts (its `after`); nil on the last page.
    public var next: CommunityID?
}

/// A request to the agent's loop, with the way to answer it.
enum AgentCommand: Sendable {
    case join(AgentConfiguration.Community, reply: @Sendable (Result<JoinOutcome, AgentControlError>) -> Void)
    case leave(CommunityID, purge: Bool, reply: @Sendable (Result<Int, AgentControlError>) -> Void)
    case rescan(CommunityID, reply: @Sendable (Result<Void, AgentControlError>) -> Void)
    case reload(AgentConfiguration, reply: @Sendable (Result<ReloadSummary, AgentControlError>) -> Void)
}

/// What reaches the agent's loop: requests, and followers that have stopped.
enum AgentMail: Sendable {
    case command(AgentCommand)
    case followerStopped(CommunityID, generation: Int)
}
