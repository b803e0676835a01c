/// A Codex dataset's manifest, as `GET /data/{cid}/network/manifest` returns it.
public struct CodexDataItem: Codable, Sendable, Equatable {
    public struct Manifest: Codable, Sendable, Equatable {
        public var treeCid: String?
        public var datasetSize: Int64
        public var blockSize: Int64?
        public var `protected`: Bool?
        public var filename: String?
        public var mimetype: String?

        public init(treeCid: String?, datasetSize: Int64, blockSize: Int64?, protected: Bool?, filename: String?, mimetype: String?) {
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

/// `GET /debug/info` (nim-codex `codex/rest/api.nim`, `/debug/info`): what tells whether the
/// node is part of a network. Unknown keys are ignored.
public struct CodexNodeInfo: Codable, Sendable, Equatable {
    public struct RoutingTable: Codable, Sendable, Equatable {
        /// The DHT peers the node knows; none means it never reached a bootstrap node.
        public var nodes: [AnyPeer]?
    }
    /// A routing-table entry; only its presence matters here.
    public struct AnyPeer: Codable, Sendable, Equatable {
        public var peerId: String?
    }

    public var id: String?
    public var addrs: [String]?
    public var announceAddresses: [String]?
    public var table: RoutingTable?

    public var peerCount: Int { table?.nodes?.count ?? 0 }
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
