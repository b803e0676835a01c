/// A dataset's manifest, as `GET /data/{cid}/network/manifest` returns it. The 2025 node
/// (nim-codex) adds `protected` (erasure coding); Logos Storage drops it and, on master, adds
/// `manifestVersion` (logos-storage-nim `storage/rest/json.nim`).
public struct CodexDataItem: Codable, Sendable, Equatable {
    public struct Manifest: Codable, Sendable, Equatable {
        public var treeCid: String?
        public var datasetSize: Int64
        public var blockSize: Int64?
        public var `protected`: Bool?
        public var filename: String?
        public var mimetype: String?
        /// Logos Storage master only: the manifest encoding's version (0 so far).
        public var manifestVersion: Int?

        public init(treeCid: String?, datasetSize: Int64, blockSize: Int64?, protected: Bool?, filename: String?, mimetype: String?,
                    manifestVersion: Int? = nil) {
            self.manifestVersion = manifestVersion
            self.treeCid = treeCid
            self.datasetSize = datasetSize
            self.blockSize = blockSize
            self.protected = `protected`
            self.filename = filename
            self.mimetype = mimetype
        }
    }

    public var cid: String
    public var manifest: Manifest

    public init(cid: String, manifest: Manifest) {
        self.cid = cid
        self.manifest = manifest
    }
}

/// `GET /debug/info`: what tells whether the node is part of a network, and which node it is.
/// Unknown keys are ignored. The 2025 node (nim-codex `codex/rest/api.nim`) answers
/// `announceAddresses` and `codex{version, revision}`; Logos Storage (logos-storage-nim
/// `storage/rest/json.nim`, `DebugInfo`) has no `announceAddresses` and answers
/// `storage{version, revision}`.
public struct CodexNodeInfo: Codable, Sendable, Equatable {
    public struct RoutingTable: Codable, Sendable, Equatable {
        /// The DHT peers the node knows; none means it never reached a bootstrap node.
        public var nodes: [AnyPeer]?
    }
    /// A routing-table entry; only its presence matters here.
    public struct AnyPeer: Codable, Sendable, Equatable {
        public var peerId: String?
    }

    public struct Version: Codable, Sendable, Equatable {
        public var version: String?
        public var revision: String?
    }

    public var id: String?
    public var addrs: [String]?
    /// 2025 nodes only.
    public var announceAddresses: [String]?
    public var table: RoutingTable?
    /// Logos Storage.
    public var storage: Version?
    /// Codex (2025).
    public var codex: Version?

    public var peerCount: Int { table?.nodes?.count ?? 0 }

    /// The version the node reports, whichever generation it is.
    public var nodeVersion: Version? { storage ?? codex }
}

/// `GET /space`.
public struct CodexSpace: Codable, Sendable, Equatable {
    public var totalBlocks: Int64?
    public var quotaMaxBytes: Int64
    public var quotaUsedBytes: Int64
    public var quotaReservedBytes: Int64?

    /// What new downloads may still use.
    public var freeBytes: Int64 { quotaMaxBytes - quotaUsedBytes - (quotaReservedBytes ?? 0) }
}
