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
            return "range \(UTCTimestamp(unixSeconds: from))..<\(UTCTimestamp(unixSeconds: to))"
        }
    }
}

extension ArchiveSelection {
    /// Whether every archive `other` selects from an index is also selected by `self`.
    public func covers(_ other: ArchiveSelection) -> Bool {
        switch (self, other) {
        case (.all, _): return true
        case (.latest, .latest): return true
        case (.range(let from, let to), .range(let otherFrom, let otherTo)): return from <= otherFrom && otherTo <= to
        default: return false
        }
    }

    /// A stable text form for the database (`all`, `latest`, `range:<from>-<to>` in unix seconds).
    public var storageKey: String {
        switch self {
        case .all: return "all"
        case .latest: return "latest"
        case .range(let from, let to): return "range:\(from)-\(to)"
        }
    }

    /// Reads `storageKey`; nil for anything else.
    public init?(storageKey: String) {
        switch storageKey {
        case "all": self = .all
        case "latest": self = .latest
        default:
            guard storageKey.hasPrefix("range:") else { return nil }
            let bounds = storageKey.dropFirst(6).split(separator: "-")
            guard bounds.count == 2, let from = UInt64(bounds[0]), let to = UInt64(bounds[1]), from < to else { return nil }
            self = .range(from: from, to: to)
        }
    }
}

/// Diffs an index against what is imported and orders the rest newest first.
///
/// ```swift
/// let plan = ArchivePlanner.plan(index.entries, excluding: importedIDs, selection: .all)
/// ```
public enum ArchivePlanner {
    public static func plan(_ entries: [ArchiveIndexEntry], excluding done: Set<ArchiveID>, selection: ArchiveSelection) -> [ArchiveIndexEntry] {
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
