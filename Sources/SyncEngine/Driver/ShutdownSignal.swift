import Synchronization

/// A flag the driver raises on `stop()` and a running import reads from its own thread.
final class ShutdownSignal: Sendable {
    private let raised = Atomic<Bool>(false)

    func raise() { raised.store(true, ordering: .releasing) }
    var isRaised: Bool { raised.load(ordering: .acquiring) }
}
