import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import StatusCrypto
import StatusWire

/// Verifies batches of assembled archive messages on up to `workers` threads, outcomes in each
/// batch's order. Verification (protobuf decodes, Keccak-256, the secp256k1 recovery) is most of
/// an import's time and depends on nothing but each message. With more than one worker a batch
/// is verified in the background while the importer stores the one before it, so reading,
/// verifying and writing overlap.
///
/// The workers are threads of their own, at a lower priority (`workerNice`) than the thread
/// that applies the rows: SQLite has one writer, so the apply is the ceiling, and on a machine
/// with fewer cores than threads it must not wait for a core behind verification (it did: the
/// apply held the lock twice as long as it used the CPU; issue 28). They are the import's own
/// (not libdispatch's, which go on to run other work, such as GRDB's, and could not raise their
/// priority back), and end with it. Nice also keeps an import behind a member's own programs.
///
/// Memory stays constant: at most two batches (`batchSize` messages each) are in flight.
///
/// ```swift
/// let verification = ParallelVerification(workers: 2, communityKey: key)
/// let pending = verification.start(batch)      // returns at once when workers > 1
/// …                                            // store the previous batch
/// for outcome in pending.outcomes() { … }      // same order as `batch`
/// ```
final class ParallelVerification {
    /// Messages verified together: enough to keep every worker busy, small enough that a batch
    /// of payloads is a few hundred KiB.
    static let batchSize = 1_024
    /// The workers' nice value (the apply thread's is the process's, usually 0). With the
    /// apply at 0 and the workers at 10, the scheduler gives the apply about nine tenths of a
    /// contended core. Measured with `benchmark run` (100,000 messages, 2 workers, 2 cores):
    /// 6.1-6.6 s against 6.8-7.0 s for the same build at 0.
    static let workerNice: Int32 = 10

    let workers: Int
    let communityKey: PublicKey?
    /// The member's group keys, for hash-ratchet encrypted messages.
    let keys: (any HashRatchetKeyring)?
    /// One thread per worker, and one that coordinates a batch. Not Swift concurrency's
    /// cooperative pool: an import blocking there starved every driver's run loop.
    private let workerThreads: [WorkerThread]
    private let coordinator: WorkerThread?

    init(workers: Int, communityKey: PublicKey?, keys: (any HashRatchetKeyring)? = nil) {
        self.keys = keys
        self.workers = workers
        self.communityKey = communityKey
        workerThreads = workers > 1 ? (0..<workers).map { WorkerThread(name: "verification \($0)", nice: Self.workerNice) } : []
        coordinator = workers > 1 ? WorkerThread(name: "verification", nice: nil) : nil
    }

    deinit {
        workerThreads.forEach { $0.finish() }
        coordinator?.finish()
    }

    /// Starts verifying `batch`. With one worker it is verified now, on the calling thread.
    func start(_ batch: [ArchivedMessageUnwrapper.Assembled]) -> VerifiedBatch {
        guard let coordinator else { return VerifiedBatch(ready: verify(batch)) }
        let pending = VerifiedBatch()
        pending.group.enter()
        coordinator.run { [self] in
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
        let shares = BatchShares(base: outcomes.baseAddress!, count: batch.count)
        // Every worker takes the next `shareSize` messages until none are left; the group's wait
        // returns when all have stored theirs.
        let done = DispatchGroup()
        // No more workers than shares: the others would only wake to find none left.
        for worker in workerThreads.prefix(shares.shareCount) {
            done.enter()
            worker.run(Self.verifying(batch, shares, communityKey: communityKey, keys: keys, then: done))
        }
        done.wait()
        let ordered = Array(outcomes)
        _ = outcomes.deinitialize()
        return ordered
    }

    /// The work of one worker: the outcomes of the shares of `batch` it takes, into their slots.
    private static func verifying(
        _ batch: [ArchivedMessageUnwrapper.Assembled], _ shares: BatchShares,
        communityKey: PublicKey?, keys: (any HashRatchetKeyring)?, then done: DispatchGroup
    ) -> () -> Void {
        {
            while let share = shares.take() {
                for index in share {
                    (shares.base + index).initialize(to: ArchivedMessageUnwrapper.verify(batch[index], communityKey: communityKey, keys: keys))
                }
            }
            done.leave()
        }
    }
}

/// A batch's outcome slots, handed out a share at a time. One fixed slice per worker (halves
/// with two) left a worker idle at the end of every batch while another, sharing its core with
/// the apply thread, finished (issue 28: about a tenth of two cores idle through a
/// verification-bound sync); with shares the workers end within one share of each other.
///
/// Sound because each share goes to one worker, which alone writes its slots, and the storage
/// is read only after the workers' group is done.
final class BatchShares: @unchecked Sendable {
    /// Messages a worker takes at a time: about a millisecond of verification, so taking one is
    /// rare next to the work.
    static let shareSize = 16
    let base: UnsafeMutablePointer<ArchivedMessageUnwrapper.Outcome>
    private let count: Int
    private let next = Atomic<Int>(0)

    /// How many shares the batch makes (the last may be short).
    var shareCount: Int { (count + Self.shareSize - 1) / Self.shareSize }

    init(base: UnsafeMutablePointer<ArchivedMessageUnwrapper.Outcome>, count: Int) {
        self.base = base
        self.count = count
    }

    /// The next share's indices, nil once every message has been taken.
    func take() -> Range<Int>? {
        let start = next.wrappingAdd(Self.shareSize, ordering: .relaxed).oldValue
        guard start < count else { return nil }
        return start..<min(start + Self.shareSize, count)
    }
}

/// A thread that runs the work it is given, in order, until `finish()`.
private final class WorkerThread: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var work: [() -> Void] = []
    private var finishing = false

    /// `nice`: the thread's nice value, set once from its first instruction (Linux keeps one
    /// per thread); nil leaves the process's.
    init(name: String, nice: Int32?) {
        let thread = Thread { [self] in
            if let nice { Self.setNice(nice) }
            while let next = self.next() { next() }
        }
        thread.name = name
        thread.start()
    }

    func run(_ item: @escaping () -> Void) {
        condition.lock()
        work.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread once the work given so far is done.
    func finish() {
        condition.lock()
        finishing = true
        condition.signal()
        condition.unlock()
    }

    private func next() -> (() -> Void)? {
        condition.lock()
        defer { condition.unlock() }
        while work.isEmpty && !finishing { condition.wait() }
        return work.isEmpty ? nil : work.removeFirst()
    }

    /// On Linux, `setpriority(PRIO_PROCESS, 0, …)` sets the calling thread's nice value. A
    /// failure (a sandbox that forbids it) leaves the thread at the process's: slower where
    /// cores are short, nothing else.
    private static func setNice(_ nice: Int32) {
        #if canImport(Glibc)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
        #endif
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
