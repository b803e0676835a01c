import Dispatch
import StatusCrypto
import StatusWire

/// Verifies batches of assembled archive messages on up to `workers` threads, outcomes in each
/// batch's order. Verification (protobuf decodes, Keccak-256, the secp256k1 recovery) is most of
/// an import's time and depends on nothing but each message. With more than one worker a batch
/// is verified in the background while the importer stores the one before it, so reading,
/// verifying and writing overlap.
///
/// Memory stays constant: at most two batches (`batchSize` messages each) are in flight.
///
/// ```swift
/// let verification = ParallelVerification(workers: 2, communityKey: key)
/// let pending = verification.start(batch)      // returns at once when workers > 1
/// …                                            // store the previous batch
/// for outcome in pending.outcomes() { … }      // same order as `batch`
/// ```
struct ParallelVerification {
    /// Messages verified together: enough to keep every worker busy, small enough that a batch
    /// of payloads is a few hundred KiB.
    static let batchSize = 1_024

    let workers: Int
    let communityKey: PublicKey?
    /// The member's group keys, for hash-ratchet encrypted messages.
    let keys: (any HashRatchetKeyring)?
    /// One serial queue per worker and one that coordinates a batch. Private serial queues run
    /// on libdispatch's overcommit threads, not on the width-limited global pool that Swift
    /// concurrency's tasks share on Linux: an import blocking there (`concurrentPerform`, a
    /// global queue) starved every driver's run loop until a batch was done.
    private let workerQueues: [DispatchQueue]
    private let coordinator = DispatchQueue(label: "community-history.verification")

    init(workers: Int, communityKey: PublicKey?, keys: (any HashRatchetKeyring)? = nil) {
        self.keys = keys
        self.workers = workers
        self.communityKey = communityKey
        workerQueues = workers > 1 ? (0..<workers).map { DispatchQueue(label: "community-history.verification.\($0)") } : []
    }

    /// Starts verifying `batch`. With one worker it is verified now, on the calling thread.
    func start(_ batch: [ArchivedMessageUnwrapper.Assembled]) -> VerifiedBatch {
        guard workers > 1 else { return VerifiedBatch(ready: verify(batch)) }
        let pending = VerifiedBatch()
        pending.group.enter()
        coordinator.async { [self] in
            pending.result = verify(batch)
            pending.group.leave()
        }
        return pending
    }

    func verify(_ batch: [ArchivedMessageUnwrapper.Assembled]) -> [ArchivedMessageUnwrapper.Outcome] {
        guard workers > 1, batch.count > 1 else {
            return batch.map { ArchivedMessageUnwrapper.verify($0, communityKey: communityKey, keys: keys) }
        }
        let outcomes = UnsafeMutableBufferPointer<ArchivedMessageUnwrapper.Outcome>.allocate(capacity: batch.count)
        defer { outcomes.deallocate() }
        let chunks = min(workers, batch.count)
        let key = communityKey
        let slots = Slots(base: outcomes.baseAddress!)
        // Each worker initializes its own contiguous slice; the group's wait returns when all have.
        let done = DispatchGroup()
        for chunk in 0..<chunks {
            workerQueues[chunk].async(group: done) {
                for index in (chunk * batch.count / chunks)..<((chunk + 1) * batch.count / chunks) {
                    (slots.base + index).initialize(to: ArchivedMessageUnwrapper.verify(batch[index], communityKey: key, keys: keys))
                }
            }
        }
        done.wait()
        let ordered = Array(outcomes)
        _ = outcomes.deinitialize()
        return ordered
    }
}

/// A batch being verified; `outcomes()` waits for it.
final class VerifiedBatch: @unchecked Sendable {
    // `result` is written once, before `group.leave()`, and read only after `group.wait()`:
    // the group orders the two.
    fileprivate let group = DispatchGroup()
    fileprivate var result: [ArchivedMessageUnwrapper.Outcome] = []

    fileprivate init() {}

    fileprivate init(ready: [ArchivedMessageUnwrapper.Outcome]) {
        result = ready
    }

    func outcomes() -> [ArchivedMessageUnwrapper.Outcome] {
        group.wait()
        return result
    }
}

/// The outcomes' storage, shared with the workers. Sound because each worker writes only the
/// slots of its own slice, and the storage is read only after the workers' group is done.
private struct Slots: @unchecked Sendable {
    let base: UnsafeMutablePointer<ArchivedMessageUnwrapper.Outcome>
}
