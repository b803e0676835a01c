/// How an archive's bytes are wrapped. status-go writes raw protobuf; the spec says the
/// control node "compresses", so zlib and gzip are accepted too. Detected by content.
public enum ArchiveCompression: String, Sendable, Codable {
    case none
    case zlib
    case gzip

    /// Looks at the first two bytes. A raw `WakuMessageArchive` starts with a field tag of
    /// 0x08, 0x12 or 0x1a, which can never be mistaken for the zlib (0x78 ..) or gzip
    /// (0x1f 0x8b) magic.
    public static func detect(prefix: [UInt8]) -> ArchiveCompression {
        guard prefix.count >= 2 else { return .none }
        if prefix[0] == 0x1f && prefix[1] == 0x8b { return .gzip }
        let header = UInt16(prefix[0]) << 8 | UInt16(prefix[1])
        if prefix[0] & 0x0f == 8 && prefix[0] >> 4 <= 7 && header % 31 == 0 { return .zlib }
        return .none
    }
}

/// Limits that keep a hostile or broken archive from exhausting memory or disk.
///
/// ```swift
/// var limits = DecodingLimits.default
/// limits.maxInflatedBytes = 64 << 20
/// ```
public struct DecodingLimits: Sendable, Equatable {
    /// The most bytes an archive may inflate to (or be, when not compressed).
    public var maxInflatedBytes: Int
    /// The most bytes any single length-delimited field (one archived message) may have.
    public var maxMessageBytes: Int
    /// The most archives an index may list: the newest are kept, the older ones are refused
    /// with a reason. A control node writes one archive a week (10,000 is two centuries), and an
    /// index of 100,000 entries whose CIDs are not on the network took days to plan (issue 27).
    public var maxIndexEntries: Int

    /// 256 MiB per archive (status-go caps archives at 30 MB); 4 MiB per message
    /// (Waku's maximum message size is 1 MiB).
    public static let `default` = DecodingLimits(maxInflatedBytes: 256 << 20, maxMessageBytes: 4 << 20)

    public init(maxInflatedBytes: Int, maxMessageBytes: Int, maxIndexEntries: Int = 10_000) {
        self.maxInflatedBytes = maxInflatedBytes
        self.maxMessageBytes = maxMessageBytes
        self.maxIndexEntries = maxIndexEntries
    }
}
