import Foundation
import StatusWire

/// Which archives of an index a member wants (the spec's three options).
public enum ArchiveSelection: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Every archive not imported yet (status-go's only behaviour).
    case all
    /// Only the newest archive (all archives sharing the newest start, when one week was split).
    case latest
    /// Archives overlapping `[from, to)`, unix seconds.
    case range(from: UInt64, to: UInt64)

    public var description: String {
        switch self {
        case .all: return "all"
        case .latest: return "latest"
        case .range(let from, let to):
            let format = ISO8601DateFormatter()
            return "range \(format.string(from: Date(timeIntervalSince1970: TimeInterval(from))))..<\(format.string(from: Date(timeIntervalSince1970: TimeInterval(to))))"
        }
    }
}

/// Diffs an index against what is imported and orders the rest newest first.
///
/// ```swift
/// let plan = ArchivePlanner.plan(index.entries, excluding: importedIDs, selection: .all)
/// ```
public enum ArchivePlanner {
    public static func plan(_ entries: [ArchiveIndexEntry], excluding done: Set<String>, selection: ArchiveSelection) -> [ArchiveIndexEntry] {
        let selected: [ArchiveIndexEntry]
        switch selection {
        case .all:
            selected = entries
        case .latest:
            let newest = entries.map(\.from).max()
            selected = entries.filter { $0.from == newest }
        case .range(let from, let to):
            selected = entries.filter { $0.from < to && $0.to > from }
        }
        return selected
            .filter { !done.contains($0.id) }
            .sorted { ($0.from, $0.id) > ($1.from, $1.id) }
    }
}
