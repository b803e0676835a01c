import Foundation
import PeerHTTP

/// The slowest a download may be (checked with `withProgressWatchdog`): at least `bytesPerSecond` on average over every `window`.
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
        let seconds = window.inSeconds
        // Saturates instead of trapping on an absurd rate (the options allow any positive number).
        return max(1, Int64(min((Double(bytesPerSecond) * seconds).rounded(.up), Double(Int64.max / 2))))
    }
}
