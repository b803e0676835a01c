import Foundation
import HistoryStore
import StatusCrypto
import StatusWire

/// Writes a large single-week archive straight to disk, and the local copies of every other
/// message into a database, for the import benchmark. Memory stays flat whatever the size.
public struct BenchmarkArchive {
    public let community = DemoCommunity(seed: 99, memberCount: 50, channelNames: ["a", "b", "c", "d", "e"])
    public let from: UInt64 = 1_779_926_400
    public var to: UInt64 { from + 7 * 24 * 3600 }

    public init() {}

    public var entry: ArchiveIndexEntry {
        ArchiveIndexEntry(
            id: ArchiveID(hashing: Array("benchmark".utf8)),
            cid: (try! CID.codex(of: Array("benchmark".utf8))).manifestCID, from: from, to: to,
            contentTopics: community.channels.map(\.topic))
    }

    /// Writes `count` signed chat messages to `path`; every second one also goes to
    /// `database` as a local copy (with different text, so the import replaces it).
    public func write(count: Int, to path: String, localCopiesIn database: HistoryDatabase) async throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? file.close() }
        var writer = try ArchiveWriter(from: from, to: to, contentTopics: community.channels.map(\.topic), file: file)
        var random = SeededGenerator(seed: 99)
        var pendingLocal: [StoredMessage] = []
        for i in 0..<count {
            let member = community.members[i % community.members.count]
            let channel = community.channels[i % community.channels.count]
            let time = from + UInt64(i) * (to - from) / UInt64(count)
            let text = "benchmark message \(i) with some ordinary chat text in it"
            let amm = try MessageFactory.chatMessage(author: member.key, chatID: channel.chatID, text: text,
                                                     clock: time * 1000 + UInt64(i % 1000), timestampMillis: time * 1000)
            let payload = try MessageFactory.publicProtocolMessage(amm, installationID: member.installationID)
            try writer.append(MessageFactory.archived(
                payload: payload, sender: member.key.publicKey, timestamp: time, topic: channel.topic,
                padding: random.bytes(WakuPayloadV1.paddingLength(dataCount: payload.count, signed: true)), hash: random.bytes(32)))
            if i % 2 == 0 {
                pendingLocal.append(StoredMessage(
                    id: MessageID.compute(signer: member.key.publicKey, applicationMessage: amm), communityID: community.communityID.string,
                    chatID: channel.chatID, contentTopic: channel.topic.string,
                    author: Hex.encode(member.key.publicKey.compressed, prefixed: true), type: 1, clock: time * 1000,
                    timestamp: Int64(time) * 1000, payload: Data(), text: text + " (local)", source: .local))
                if pendingLocal.count == 10_000 {
                    try await database.insertLocalMessages(pendingLocal)
                    pendingLocal.removeAll(keepingCapacity: true)
                }
            }
        }
        try await database.insertLocalMessages(pendingLocal)
        try writer.finish()
    }
}
