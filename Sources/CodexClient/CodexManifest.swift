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
