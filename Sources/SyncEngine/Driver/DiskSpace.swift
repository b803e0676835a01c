import Foundation
import Synchronization

/// The free-space guard: refuse to start a download that would fill the disk.
public enum DiskSpace {
    /// Bytes available to this user on the file system holding `directory`.
    public static func available(at directory: URL) -> Int64? {
        let values = try? directory.resourceValues(forKeys: [.volumeAvailableCapacityKey])
        if let capacity = values?.volumeAvailableCapacity { return Int64(capacity) }
        var stats = statvfs()
        guard statvfs(directory.path, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }
}

/// Space promised to downloads in progress. Free space alone would let three concurrent
/// downloads each see room for itself and together fill the disk; checked against the ledger,
/// a download starts only if free space covers it, everything already reserved, and the
/// margin. The agent shares one ledger among all its communities.
///
/// Reservations are whole archive sizes until their download ends (a little conservative:
/// bytes already written count both as used and as reserved).
///
/// ```swift
/// let reservation = try ledger.reserve(size, margin: 100 << 20, at: archivesDirectory, for: "archive 0x12…")
/// defer { reservation.release() }
/// ```
public final class DiskReservations: Sendable {
    private let reserved = Mutex<Int64>(0)
    private let available: @Sendable (URL) -> Int64?

    /// `available` is how free space is measured (injectable for tests).
    public init(available: @escaping @Sendable (URL) -> Int64? = DiskSpace.available) {
        self.available = available
    }

    public var reservedBytes: Int64 { reserved.withLock { $0 } }

    /// Reserves `bytes` if the free space at `directory` covers them, the margin and every
    /// reservation still held; throws a `DiskSpaceError` saying what and how much otherwise.
    public func reserve(_ bytes: Int64, margin: Int64, at directory: URL, for what: String) throws -> Reservation {
        try reserved.withLock { reserved in
            if let free = available(directory), free < bytes + margin + reserved {
                throw DiskSpaceError(directory: directory.path, needed: bytes, margin: margin, reserved: reserved, available: free, what: what)
            }
            reserved += bytes
        }
        return Reservation(ledger: self, bytes: bytes)
    }

    fileprivate func release(_ bytes: Int64) {
        reserved.withLock { $0 -= bytes }
    }

    /// Space held for one download; release it when the download ends, however it ends.
    public final class Reservation: Sendable {
        private let ledger: DiskReservations
        private let bytes: Int64
        private let released = Atomic<Bool>(false)

        fileprivate init(ledger: DiskReservations, bytes: Int64) {
            self.ledger = ledger
            self.bytes = bytes
        }

        /// Idempotent.
        public func release() {
            if !released.exchange(true, ordering: .acquiringAndReleasing) { ledger.release(bytes) }
        }
    }
}

public struct DiskSpaceError: Error, CustomStringConvertible {
    public let directory: String
    public let needed: Int64
    public let margin: Int64
    /// Held by other downloads in progress.
    public let reserved: Int64
    public let available: Int64
    public let what: String

    public var description: String {
        let others = reserved > 0 ? " + \(reserved) bytes for downloads in progress" : ""
        return "not enough free disk space in \(directory) for \(what): needs \(needed) bytes + \(margin) bytes margin\(others), "
            + "\(available) available; free some space or move archivesDirectory"
    }
}
