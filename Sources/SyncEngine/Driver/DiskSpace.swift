import Foundation

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

    public static func require(_ bytes: Int64, at directory: URL, for what: String) throws {
        guard let free = available(at: directory) else { return }
        if free < bytes { throw DiskSpaceError(directory: directory.path, needed: bytes, available: free, what: what) }
    }
}

public struct DiskSpaceError: Error, CustomStringConvertible {
    public let directory: String
    public let needed: Int64
    public let available: Int64
    public let what: String

    public var description: String {
        "not enough free disk space in \(directory) for \(what): needs \(needed) bytes, \(available) available; free some space or move archivesDirectory"
    }
}
