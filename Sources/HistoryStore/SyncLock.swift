import Foundation
import Synchronization

/// One syncing process per history database: `sync`, `agent` and `replay` hold this lock on
/// `<database>.lock` while they run, so two of them never download and import the same archives
/// side by side. The lock is `flock(2)`: the kernel releases it when the process ends, however it
/// ends, so a crash never leaves a stale lock. The file records who holds it, for the error.
///
/// ```swift
/// let lock = try SyncLock(databasePath: "history.sqlite", command: "sync")
/// defer { lock.release() }
/// ```
///
/// Throws `SyncLockError.heldByAnotherProcess` (naming it) when another process holds the lock,
/// `SyncLockError.cannotOpen` when the lock file cannot be created.
public final class SyncLock: Sendable {
    public let path: String
    /// The open lock file; -1 once released.
    private let descriptor: Mutex<Int32>

    public init(databasePath: String, command: String) throws {
        path = databasePath + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SyncLockError.cannotOpen(path: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.readHolder(fd)
            close(fd)
            throw SyncLockError.heldByAnotherProcess(path: path, holder: holder)
        }
        descriptor = Mutex(fd)
        let holder = SyncLockHolder(pid: getpid(), command: command, since: Date())
        // Only the message of a later error depends on this: a failed write is logged there as "unknown".
        if ftruncate(fd, 0) == 0 {
            let bytes = Array(holder.line.utf8)
            _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
    }

    /// Lets the lock go (also done when the lock is deinitialised, and when the process ends).
    /// Releasing twice is harmless.
    public func release() {
        let fd = descriptor.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
    }

    deinit { release() }

    private static func readHolder(_ fd: Int32) -> SyncLockHolder? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return SyncLockHolder(line: String(decoding: buffer[..<count], as: UTF8.self))
    }
}

/// Who holds a `SyncLock`: written into the lock file as `pid command unix-seconds`.
public struct SyncLockHolder: Sendable, Equatable {
    public var pid: Int32
    public var command: String
    public var since: Date

    init(pid: Int32, command: String, since: Date) {
        self.pid = pid
        self.command = command
        self.since = since
    }

    init?(line: String) {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 3, let pid = Int32(fields[0]), let seconds = Double(fields[2]) else { return nil }
        self.init(pid: pid, command: String(fields[1]), since: Date(timeIntervalSince1970: seconds))
    }

    var line: String { "\(pid) \(command.replacingOccurrences(of: " ", with: "-")) \(Int(since.timeIntervalSince1970))\n" }
}

public enum SyncLockError: Error, CustomStringConvertible, Equatable {
    case heldByAnotherProcess(path: String, holder: SyncLockHolder?)
    case cannotOpen(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .heldByAnotherProcess(let path, let holder):
            let who = holder.map { "process \($0.pid) (community-history \($0.command), since \(ISO8601DateFormatter().string(from: $0.since)))" }
                ?? "another process"
            return "\(who) is syncing this database (lock \(path)); stop it first, or use another --db"
        case .cannotOpen(let path, let code):
            return "cannot create the lock file \(path): \(String(cString: strerror(code)))"
        }
    }
}
