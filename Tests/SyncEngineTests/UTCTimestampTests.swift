import Foundation
import Testing
@testable import SyncMachine

/// The machine's module formats range selections without Foundation: the same text as
/// `ISO8601DateFormatter`, across leap days, century years and the 32-bit rollover.
@Suite struct UTCTimestampTests {
    @Test(arguments: [UInt64(0), 59, 86_399, 86_400, 951_782_400, 951_868_799, 1_709_164_800, 1_762_000_000,
                      2_147_483_647, 2_147_483_648, 4_107_542_400, 4_107_628_800, 253_402_300_799])
    func matchesFoundationsISO8601(_ seconds: UInt64) {
        let foundation = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
        #expect(UTCTimestamp(unixSeconds: seconds).description == foundation)
    }

    @Test func aRangeSelectionReadsAsDates() {
        #expect(ArchiveSelection.range(from: 1_761_955_200, to: 1_762_560_000).description
                == "range 2025-11-01T00:00:00Z..<2025-11-08T00:00:00Z")
    }
}
