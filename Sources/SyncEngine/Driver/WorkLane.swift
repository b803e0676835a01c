/// A part of the driver's task group that can be cancelled on its own: one child task running
/// a task group of its own, fed work through a stream. Cancelling the lane cancels that group,
/// so the work of an older plan, or a timer being replaced, stops as structured children do:
/// no `Task` is kept, nothing races its work against a flag.
///
/// ```swift
/// let lane = WorkLane(in: &group)
/// lane.run { await download(a) }
/// lane.run { await download(b) }
/// lane.cancel()   // both downloads' tasks are cancelled; the lane's child task ends
/// ```
struct WorkLane: Sendable {
    private enum Mail: Sendable {
        case work(@Sendable () async -> Void)
        case cancel
    }

    private let mail: AsyncStream<Mail>.Continuation

    /// Opens a lane as a child of `group`; it ends once closed and its work has ended, once
    /// cancelled, or when `group` is cancelled.
    init(in group: inout DiscardingTaskGroup) {
        let (stream, mail) = AsyncStream.makeStream(of: Mail.self)
        self.mail = mail
        group.addTask {
            await withDiscardingTaskGroup { lane in
                for await item in stream {
                    switch item {
                    case .work(let work):
                        lane.addTask { await work() }
                    case .cancel:
                        lane.cancelAll()
                        return
                    }
                }
            }
        }
    }

    /// Runs `work` as a child of the lane.
    func run(_ work: @escaping @Sendable () async -> Void) {
        mail.yield(.work(work))
    }

    /// Takes no more work: what runs goes on to its end.
    func close() {
        mail.finish()
    }

    /// Cancels what runs, and takes no more work.
    func cancel() {
        mail.yield(.cancel)
        mail.finish()
    }
}
