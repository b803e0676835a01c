import Synchronization

/// Cancels one piece of a task group's work (the downloads of an older plan, a timer being
/// replaced) without keeping its `Task`: the child races its work against `waitUntilCancelled()`
/// with `run(_:until:)`, so the work stays a structured child of the group.
///
/// ```swift
/// let token = CancellationToken()
/// group.addTask { if let bytes = await run({ await download() }, until: token) { … } }
/// token.cancel()   // the download's task is cancelled; run returns nil
/// ```
final class CancellationToken: Sendable {
    private struct State {
        var cancelled = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    func cancel() {
        let waiters = state.withLock { state in
            state.cancelled = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once `cancel()` is called, or once the calling task is cancelled.
    func waitUntilCancelled() async {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    // The task's flag is set before its handler runs: checked under the lock,
                    // a cancellation cannot slip between this check and the registration.
                    if state.cancelled || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// Runs `work` until it ends or `token` is cancelled (then `work`'s task is cancelled, and
/// awaited, and this returns nil).
func run<T: Sendable>(_ work: @escaping @Sendable () async -> T, until token: CancellationToken) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await work() }
        group.addTask {
            await token.waitUntilCancelled()
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
