import ArchiveImport
import Foundation
import PeerHTTP
import SyncEngine

/// How long a sync's steps took, in seconds, and the memory it used (for people, and for `benchmark sync`).
public struct SyncPerformance: Codable, Sendable, Equatable {
    /// One imported archive, in the order the imports finished.
    public struct ArchiveImport: Codable, Sendable, Equatable {
        public var archiveID: String
        /// Archived entries read.
        public var entries: Int
        /// From the start of the import (decode, verify, apply) to its commit.
        public var seconds: Double
        /// From the commit of the import before (or this import's start, for the first) to this
        /// one's: imports overlap (the next archive is verified while one is written), so this
        /// is the pace at which history arrives.
        public var sincePreviousCommitSeconds: Double
    }

    /// From the start of the run to the report.
    public var seconds: Double = 0
    /// From the index's download to the first archive's commit: how long a member waits for the
    /// first messages once the sync knows what to fetch. Absent when nothing was imported.
    public var indexToFirstImportSeconds: Double?
    /// The longest any import held the database's write lock: the longest a chat client's
    /// write waited for this sync (up to the commit and the WAL checkpoint SQLite runs after it).
    public var longestWriteLockSeconds: Double = 0
    public var archives: [ArchiveImport] = []
    /// The process's peak resident memory in MiB (Linux's VmHWM), when the system says.
    public var peakResidentMiB: Double?

    public init() {}

    private enum CodingKeys: String, CodingKey { case seconds, indexToFirstImportSeconds, longestWriteLockSeconds, archives, peakResidentMiB }

    /// Every key, absent values as `null`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(indexToFirstImportSeconds, forKey: .indexToFirstImportSeconds)
        try container.encode(longestWriteLockSeconds, forKey: .longestWriteLockSeconds)
        try container.encode(archives, forKey: .archives)
        try container.encode(peakResidentMiB, forKey: .peakResidentMiB)
    }
}

/// Folds driver events and the time they arrived into a `SyncPerformance`.
struct SyncPerformanceRecorder {
    private var indexDownloaded: Duration?
    private var importStarted: [String: Duration] = [:]
    private var lastCommit: Duration?
    private(set) var performance = SyncPerformance()

    /// `elapsed`: time since the run started.
    mutating func record(_ event: SyncEvent, at elapsed: Duration) {
        switch event {
        case .indexDownloaded:
            indexDownloaded = indexDownloaded ?? elapsed
        case .importingArchive(let id):
            importStarted[id.string] = elapsed
        case .archiveImported(let result):
            let id = result.archiveID.string
            if performance.indexToFirstImportSeconds == nil, let indexDownloaded {
                performance.indexToFirstImportSeconds = (elapsed - indexDownloaded).inSeconds
            }
            if let started = importStarted.removeValue(forKey: id) {
                let paceFrom = lastCommit.map { max($0, started) } ?? started
                performance.archives.append(.init(archiveID: id, entries: result.entries, seconds: (elapsed - started).inSeconds,
                                                  sincePreviousCommitSeconds: (elapsed - paceFrom).inSeconds))
            }
            lastCommit = elapsed
        default:
            break
        }
    }
}

/// The memory this process has used.
public enum ProcessMemory {
    /// Peak resident memory in MiB: `VmHWM` of `/proc/self/status`, nil where there is none.
    /// Not `getrusage`: its `ru_maxrss` carries the parent's peak across `exec`, so a child of
    /// a large process (the benchmark) would report the parent's.
    public static func peakResidentMiB() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kiB = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return nil }
        return kiB / 1024
    }
}
