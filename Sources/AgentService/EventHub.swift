import Foundation
import Synchronization

/// The agent's events for live readers (the local API's Server-Sent Events): each event gets a
/// sequence number, the newest `capacity` are kept, and a reader that reconnects with the last
/// number it saw gets what it missed, then the live stream.
///
/// Numbers start at 1 in each run of the agent and are prefixed by the run's start (`<run>-<n>`),
/// so a reader that comes back after a restart, or after more than `capacity` events, is told
/// it missed some (`resumed == false`) rather than silently given a hole.
///
/// ```swift
/// let subscription = hub.subscribe(after: request.headers[lastEventID])
/// if !subscription.resumed { … tell the client to read the state again … }
/// for await event in subscription.events { write("id: \(event.id)\ndata: …\n\n") }
/// ```
public final class EventHub: Sendable {
    public struct Event: Sendable, Equatable {
        /// `<run>-<sequence>`: what the client sends back as `Last-Event-ID`.
        public var id: String
        public var sequence: Int
        /// The event's name (`archive.imported`, …).
        public var name: String
        /// The event as one JSON object (the same as a line of the events file).
        public var json: Data
    }

    public struct Subscription: Sendable {
        /// Missed events first, then live ones; finishes when the agent stops.
        public var events: AsyncStream<Event>
        /// False when events were missed that cannot be replayed (an ID of another run, or
        /// older than what is kept); true when nothing was asked for or all was replayed.
        public var resumed: Bool
    }

    private struct State {
        var next = 1
        var kept: [Event] = []
        var readers: [Int: AsyncStream<Event>.Continuation] = [:]
        var nextReader = 0
        var closed = false
    }

    /// Identifies this run in event IDs (milliseconds since 1970 at start).
    public let run: String
    private let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int = 1_000, run: String = String(Int64(Date().timeIntervalSince1970 * 1000))) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.run = run
    }

    /// Numbers and keeps an event (a JSON object with its `event` name) and hands it to every reader.
    public func publish(name: String, json: Data) {
        state.withLock { state in
            guard !state.closed else { return }
            let event = Event(id: "\(run)-\(state.next)", sequence: state.next, name: name, json: json)
            state.next += 1
            state.kept.append(event)
            if state.kept.count > capacity { state.kept.removeFirst(state.kept.count - capacity) }
            for reader in state.readers.values { reader.yield(event) }
        }
    }

    /// Events after `lastEventID` (nil: only new ones), then every new one.
    public func subscribe(after lastEventID: String?) -> Subscription {
        // Unbounded: a slow reader's backlog is at most what the agent publishes meanwhile;
        // the HTTP connection's own back-pressure slows the writes that drain it.
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let resumed: Bool = state.withLock { state in
            var resumed = true
            if let lastEventID {
                let parts = lastEventID.split(separator: "-", maxSplits: 1)
                if parts.count == 2, parts[0] == run, let seen = Int(parts[1]), seen < state.next {
                    let oldestKept = state.kept.first?.sequence ?? state.next
                    resumed = seen >= oldestKept - 1
                    for event in state.kept where event.sequence > seen { continuation.yield(event) }
                } else {
                    resumed = false
                }
            }
            if state.closed {
                continuation.finish()
            } else {
                let key = state.nextReader
                state.nextReader += 1
                state.readers[key] = continuation
                continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.readers.removeValue(forKey: key) } }
            }
            return resumed
        }
        return Subscription(events: events, resumed: resumed)
    }

    /// Ends every reader's stream (the agent stops); later events are dropped.
    public func close() {
        let readers = state.withLock { state in
            state.closed = true
            defer { state.readers = [:] }
            return Array(state.readers.values)
        }
        for reader in readers { reader.finish() }
    }

    /// Readers connected now (for metrics and tests).
    public var readerCount: Int { state.withLock { $0.readers.count } }
}
