import Foundation
import StatusWire
import Synchronization

/// Where a storage node serves its REST API. Logos Storage (2026) serves `/api/storage/v1`
/// (logos-storage-nim `storage/rest/api.nim`); nodes released before the rename, as Codex,
/// serve `/api/codex/v1` (nim-codex `codex/rest/api.nim`). Everything under it is the same
/// shape, but for the differences `CodexNodeInfo` and `CodexDataItem` absorb.
public enum StorageAPIPrefix: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case storage = "/api/storage/v1"
    case codex = "/api/codex/v1"

    /// Probed in this order: the generation a member is most likely to run first.
    public static let probeOrder: [StorageAPIPrefix] = [.storage, .codex]

    public var description: String { rawValue }

    /// The name a user knows the node by.
    public var nodeName: String {
        switch self {
        case .storage: return "Logos Storage"
        case .codex: return "Codex (before the rename to Logos Storage)"
        }
    }

    /// The node's root and the prefix a user wrote, from what a user may give: the node
    /// (`http://host:8080`) or its REST API (`http://host:8080/api/storage/v1`, or
    /// `…/api/codex/v1` as nim-codex's documentation writes it), with or without a trailing
    /// slash. A prefix written out pins the API: it is not probed.
    public static func split(_ url: URL) -> (node: URL, prefix: StorageAPIPrefix?) {
        var text = url.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        for prefix in allCases where text.hasSuffix(prefix.rawValue) {
            text.removeLast(prefix.rawValue.count)
            return (URL(string: text) ?? url, prefix)
        }
        return (URL(string: text) ?? url, nil)
    }
}

/// What a client has learnt of its node, shared by every copy of the client (it is a value
/// type handed to many tasks): the API prefix found by probing, and the manifest layout of the
/// last dataset it verified. Found once, then reused; forgotten when the node stops answering
/// under the prefix (a node upgraded while the agent runs).
final class StorageNodeProfile: Sendable {
    private let state = Mutex<(prefix: StorageAPIPrefix?, layout: CodexManifestLayout?)>((nil, nil))

    var prefix: StorageAPIPrefix? { state.withLock { $0.prefix } }
    var layout: CodexManifestLayout? { state.withLock { $0.layout } }

    func found(_ prefix: StorageAPIPrefix) { state.withLock { $0.prefix = prefix } }
    func forget(_ prefix: StorageAPIPrefix) { state.withLock { if $0.prefix == prefix { $0.prefix = nil } } }
    func verified(_ layout: CodexManifestLayout) { state.withLock { $0.layout = layout } }
}
