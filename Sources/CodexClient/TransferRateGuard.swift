import Foundation
import Synchronization

/// The slowest a download may be: at least `bytesPerSecond` on average over every `window`.
/// A real node streams a dataset block by block as it fetches the blocks from the network
/// (nim-codex `streams/storestream.nim:74-126`); when a block cannot be found the stream stops
/// mid-body for the hours block discovery takes (`blockexchange/engine/pendingblocks.nim:36-37`),
/// and a slow peer trickles. The idle timeout catches neither a trickle nor, quickly, a stall.
///
/// ```swift
/// var codex = CodexClient(baseURL: url)
/// codex.minimumTransferRate = MinimumTransferRate(bytesPerSecond: 1024, window: .seconds(60))
/// ```
public struct MinimumTransferRate: Sendable, Equatable {
    public var bytesPerSecond: Int64
    public var window: Duration

    /// One 64 KiB block a minute: far below any working node, far above a stalled one.
    public static let `default` = MinimumTransferRate(bytesPerSecond: 1024, window: .seconds(64))

    public init(bytesPerSecond: Int64, window: Duration) {
        self.bytesPerSecond = bytesPerSecond
        self.window = window
    }

    /// The fewest bytes a window must bring.
    var minimumBytesPerWindow: Int64 {
        let seconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
        return max(1, Int64((Double(bytesPerSecond) * seconds).rounded(.up)))
    }
}

/// Bytes received so far by one transfer, written by the transport's delegate and read by the guard.
final class TransferCounter: Sendable {
    private let received = Atomic<Int64>(0)

    func set(_ bytes: Int64) { received.store(bytes, ordering: .relaxed) }
    var value: Int64 { received.load(ordering: .relaxed) }
}

/// A transfer that brought fewer bytes in a window than `MinimumTransferRate` asks.
struct TransferTooSlow: Error {
    var received: Int64
    var window: Duration
}

/// Runs `transfer` beside a watchdog that wakes once per window (no polling in between) and
/// fails the transfer when it brought too few bytes. Structured: the loser is cancelled, and
/// the function returns only when both have ended.
func guardingTransferRate<T: Sendable>(
    _ rate: MinimumTransferRate?, counter: TransferCounter, clock: any Clock<Duration>,
    _ transfer: @escaping @Sendable () async throws -> T
) async throws -> T {
    guard let rate else { return try await transfer() }
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await transfer() }
        group.addTask {
            var before = counter.value
            while true {
                try await clock.sleep(for: rate.window)
                let now = counter.value
                if now - before < rate.minimumBytesPerWindow { throw TransferTooSlow(received: now - before, window: rate.window) }
                before = now
            }
        }
        defer { group.cancelAll() }
        // The watchdog never returns a value: the first result is the transfer's.
        while let result = try await group.next() {
            if let value = result { return value }
        }
        throw CancellationError()
    }
}
