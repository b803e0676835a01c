import Foundation

/// Why talking to a peer failed, phrased for the person running the agent.
public struct PeerError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// Nothing answered (connection refused, DNS, reset): the node is down or the URL is wrong.
        case unreachable
        case timedOut
        case cancelled
        /// The node answered with an HTTP error status.
        case status(Int)
        /// The node answered 200 with something this client cannot use.
        case invalidResponse
        /// The node answered, then its answer broke off (the connection closed mid-body): the
        /// node is there, the transfer failed; trying again may work.
        case interrupted
    }

    public let kind: Kind
    public let method: String
    public let url: String
    public let detail: String

    public init(kind: Kind, method: String, url: String, detail: String) {
        self.kind = kind
        self.method = method
        self.url = url
        self.detail = detail
    }

    /// Whether trying again later may succeed (a node that is down may come back; a 404 or a
    /// malformed answer will not change by retrying soon).
    public var isRetryable: Bool {
        switch kind {
        case .unreachable, .timedOut, .interrupted: return true
        case .status(let code): return code >= 500 || code == 408 || code == 429
        case .cancelled, .invalidResponse: return false
        }
    }

    public var description: String {
        switch kind {
        case .unreachable: return "\(method) \(url): unreachable (\(detail)); is the node running and is the URL right?"
        case .interrupted: return "\(method) \(url): the answer broke off (\(detail))"
        case .timedOut: return "\(method) \(url): timed out (\(detail))"
        case .cancelled: return "\(method) \(url): cancelled"
        case .status(let code): return "\(method) \(url): HTTP \(code)\(detail.isEmpty ? "" : ": \(detail)")"
        case .invalidResponse: return "\(method) \(url): unexpected answer: \(detail)"
        }
    }
}
