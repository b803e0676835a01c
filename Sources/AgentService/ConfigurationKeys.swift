import Foundation
import SyncEngine

/// Checks the keys of an agent configuration file before it is decoded: `JSONDecoder` ignores
/// keys it does not know, so a misspelt `"hydraton": "merge"` would silently leave replace mode
/// on and delete local copies. Every unknown key is an error that names the nearest known one.
enum ConfigurationKeys {
    static let topLevel: Set<String> = [
        "storageURL", "codexURL", "storageAPI", "wakuURL", "database", "archivesDirectory", "pubsubTopic", "storePeer", "relayPollSeconds",
        "storeCatchUpSeconds", "catchUpHours", "metricsPort", "diskMarginBytes", "databaseBusyTimeoutSeconds",
        "maxDownloadBytesPerSecond", "minDownloadBytesPerSecond", "apiSocket", "apiPort", "communities",
    ]
    static let community: Set<String> = ["id", "mode", "from", "to", "hydration", "settleSeconds", "concurrency", "pubsubTopic"]

    /// Throws `AgentConfigurationError` for the first unknown key (in `communities[i]` too).
    static func check(_ data: Data, file: String) throws {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw AgentConfigurationError("\(file): the configuration must be a JSON object")
        }
        try check(object.keys, known: topLevel, at: "", file: file)
        for (index, community) in (object["communities"] as? [Any] ?? []).enumerated() {
            guard let community = community as? [String: Any] else {
                throw AgentConfigurationError("\(file): communities[\(index)] must be an object with an \"id\"")
            }
            try check(community.keys, known: self.community, at: "communities[\(index)].", file: file)
        }
    }

    private static func check(_ keys: Dictionary<String, Any>.Keys, known: Set<String>, at path: String, file: String) throws {
        for key in keys.sorted() where !known.contains(key) {
            let hint = nearest(key, in: known).map { " (did you mean \"\($0)\"?)" } ?? ""
            throw AgentConfigurationError("\(file.isEmpty ? "" : file + ": ")unknown key \"\(path)\(key)\"\(hint); known keys: \(known.sorted().joined(separator: ", "))")
        }
    }

    /// Throws for an unknown key of one community's settings (a join through the API), as for a file's.
    static func checkCommunity(_ object: [String: Any]) throws {
        try check(object.keys, known: community, at: "", file: "")
    }

    /// The known key closest to `key` (case-insensitive edit distance at most 3).
    static func nearest(_ key: String, in known: Set<String>) -> String? {
        let scored = known.map { ($0, distance(key.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { ($0.1, $0.0) < ($1.1, $1.0) }), best.1 <= 3 else { return nil }
        return best.0
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }

    /// "line L, column C" of byte `offset` in `data`.
    static func position(of offset: Int, in data: Data) -> String {
        let prefix = data.prefix(max(0, offset))
        let line = prefix.filter { $0 == UInt8(ascii: "\n") }.count + 1
        let column = prefix.count - (prefix.lastIndex(of: UInt8(ascii: "\n")).map { $0 - prefix.startIndex + 1 } ?? 0) + 1
        return "line \(line), column \(column)"
    }
}
