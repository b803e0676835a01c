import Synchronization

/// Permits shared by every community's sync in one process, so that what the agent holds open
/// does not grow with the communities it follows: each running download holds a socket and a
/// partial file, each import a scratch database, its verification threads and the one SQLite
/// writer's turn. Issue 27: at 200 communities, 3 downloads and 2 imports each came to 706
/// threads and 1,443 open files.
///
/// ```swift
/// let budget = WorkBudget(downloads: 6, imports: 2)   // one for the whole agent
/// // each driver: try await budget.downloads.run { try await download() }
/// ```
public struct WorkBudget: Sendable {
    public let downloads: Permits
    public let imports: Permits
    /// Communities reading their saved state at once (`resume`: a few database reads and a look
    /// at their archives directory). A thousand starting together took the CPU a chat client's
    /// first request to the agent needed (issue 29); one after the other they are as quick.
    public let starts: Permits

    /// What the agent allows at once, whatever the number of communities: a few downloads
    /// (the node serves them in parallel) and two imports (one applies while the next verifies:
    /// there is one SQLite writer).
    public static let agentDefault = (downloads: 6, imports: 2, starts: 2)

    public init(downloads: Int = agentDefault.downloads, imports: Int = agentDefault.imports, starts: Int = agentDefault.starts) {
        self.downloads = Permits(downloads)
        self.imports = Permits(imports)
        self.starts = Permits(starts)
    }
}

/// A counting semaphore for async code: `run` waits (without a thread) until a permit is free,
/// holds it while `body` runs, and gives it back however `body` ends. A task cancelled while it
/// waits stops waiting at once with `CancellationError`. Waiters are served first come, first served.
public final class Permits: Sendable {
    private struct State {
        var available: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
    }
    private let state: Mutex<State>
    public let limit: Int

    public init(_ limit: Int) {
        precondition(limit > 0, "a budget allows at least one")
        self.limit = limit
        state = Mutex(State(available: limit))
    }

    /// Permits not held now (for metrics and tests).
    public var available: Int { state.withLock { $0.available } }

    public func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    func acquire() async throws {
        let id: UInt64 = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Now { case take, cancel, wait }
                let now = state.withLock { state -> Now in
                    if Task.isCancelled { return .cancel }
                    if state.available > 0 {
                        state.available -= 1
                        return .take
                    }
                    state.waiters.append((id, continuation))
                    return .wait
                }
                switch now {
                case .take: continuation.resume()
                case .cancel: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            // Handed straight to the first waiter: `available` stays as it is.
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}

extension Optional where Wrapped == Permits {
    /// `body` under a permit when there is a budget, at once when there is none.
    func withPermit<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        guard let permits = self else { return try await body() }
        return try await permits.run(body)
    }
}
