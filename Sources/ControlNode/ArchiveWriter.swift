import Foundation
import StatusCrypto
import StatusWire
import SwiftProtobuf

/// Writes a `WakuMessageArchive` (metadata, then one entry per archived message) either to
/// memory or straight to a file, so even a huge benchmark archive is never held in memory.
public struct ArchiveWriter {
    public let metadata: WireWakuMessageArchiveMetadata
    private var buffer: [UInt8] = []
    private let file: FileHandle?
    public private(set) var messageCount = 0

    public init(from: UInt64, to: UInt64, contentTopics: [ContentTopic], file: FileHandle? = nil) throws {
        var metadata = WireWakuMessageArchiveMetadata()
        metadata.from = from
        metadata.to = to
        metadata.contentTopic = contentTopics.map { Data($0.bytes) }
        self.metadata = metadata
        self.file = file
        ProtobufFieldWriter.lengthDelimited(field: 2, try metadata.serializedBytes(), into: &buffer)
        try flushIfStreaming()
    }

    public mutating func append(_ message: WireArchivedWakuMessage) throws {
        ProtobufFieldWriter.lengthDelimited(field: 3, try message.serializedBytes(), into: &buffer)
        messageCount += 1
        if buffer.count > 1 << 20 { try flushIfStreaming() }
    }

    /// The archive bytes (in-memory writers only).
    public func bytes() -> [UInt8] { buffer }

    /// Flushes what is left (file writers).
    public mutating func finish() throws { try flushIfStreaming() }

    private mutating func flushIfStreaming() throws {
        guard let file, !buffer.isEmpty else { return }
        try file.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Builds the archive index. Entries are written sorted by key so the same archives always
/// give the same index bytes (and so the same index CID).
public struct IndexBuilder {
    private var entries: [(key: String, value: [UInt8])] = []

    public init() {}

    /// Adds an archive; returns its archive ID, `0x` + hex(keccak256(metadata bytes)).
    @discardableResult
    public mutating func add(metadata: WireWakuMessageArchiveMetadata, cid: CID) throws -> String {
        var entry = WireArchiveIndexMetadata()
        entry.metadata = metadata
        entry.cid = cid.string
        let value: [UInt8] = try entry.serializedBytes()
        let key = Hex.encode(Keccak256.hash(value), prefixed: true)
        entries.append((key, value))
        return key
    }

    /// Adds an entry under a key that is not its hash: for fixtures that test rejection.
    public mutating func addMismatchedKey(_ key: String, metadata: WireWakuMessageArchiveMetadata, cid: CID) throws {
        var entry = WireArchiveIndexMetadata()
        entry.metadata = metadata
        entry.cid = cid.string
        let value: [UInt8] = try entry.serializedBytes()
        entries.append((key, value))
    }

    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            var mapEntry: [UInt8] = []
            ProtobufFieldWriter.lengthDelimited(field: 1, Array(key.utf8), into: &mapEntry)
            ProtobufFieldWriter.lengthDelimited(field: 2, value, into: &mapEntry)
            ProtobufFieldWriter.lengthDelimited(field: 1, mapEntry, into: &out)
        }
        return out
    }
}
