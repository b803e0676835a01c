import Fixtures
import Foundation
import StatusCrypto
import StatusWire

/// The control-node side of an encrypted (token-gated) community's history, from a seed: every
/// weekly archive and the index are hash-ratchet encrypted as a whole with the community's group
/// key (group = the community ID's bytes; status-wire.md §3.6), one in five channel messages
/// inside the archives is encrypted with the same ratchet, and the key is rotated mid-history.
/// The `#dev` channel is encrypted at channel level: its encrypted messages use the channel's
/// own key (group = its chat ID). The keys go to `keys.jsonl`, in the form `keys import` reads:
/// what the chat client holds (the community's two, then the channel's).
///
/// Sequence numbers count up per key, as status-go's sender does for every message it encrypts
/// with a key (messages, archives and the index alike).
///
/// ```swift
/// let summary = try EncryptedFixtureGenerator(configuration: .init(seed: 3)).write(to: directory)
/// // directory/keys.jsonl holds summary.keyIDs.count keys
/// ```
public struct EncryptedFixtureGenerator {
    public struct Configuration: Sendable {
        public var seed: UInt64
        public var weeks: Int
        public var messagesPerWeek: Int
        /// Unix seconds where the first weekly archive starts.
        public var start: UInt64
        /// The first week encrypted with the second key.
        public var rotationWeek: Int
        /// The manifest layout of the storage node the control node uploads to.
        public var layout: CodexManifestLayout

        public init(seed: UInt64 = 3, weeks: Int = 4, messagesPerWeek: Int = 60, start: UInt64 = 1_779_926_400, rotationWeek: Int = 2,
                    layout: CodexManifestLayout = .current) {
            self.layout = layout
            self.seed = seed
            self.weeks = weeks
            self.messagesPerWeek = messagesPerWeek
            self.start = start
            self.rotationWeek = rotationWeek
        }
    }

    /// What was written, for tests to check an import against.
    public struct Summary: Codable, Sendable, Equatable {
        public var communityID = ""
        public var indexCID = ""
        /// Archive ID → the key ID it is encrypted with.
        public var archiveKeys: [String: String] = [:]
        /// Messages that verify once opened (every one of them, encrypted or not).
        public var validMessages = 0
        /// Of those, the ones encrypted inside the archives.
        public var encryptedMessages = 0
        /// The community's keys, oldest first (the index is encrypted with the last), then the
        /// `#dev` channel's key.
        public var keyIDs: [String] = []
        /// Of `encryptedMessages`, those encrypted with the channel's key (in `#dev`).
        public var channelKeyMessages = 0
    }

    /// The name of the keys file beside the fixture's manifest.
    public static let keysFile = "keys.jsonl"

    public let configuration: Configuration
    public let community: DemoCommunity

    public init(configuration: Configuration = .init()) {
        precondition(configuration.rotationWeek > 0 && configuration.rotationWeek < configuration.weeks,
                     "the key is rotated inside the history")
        self.configuration = configuration
        community = DemoCommunity(seed: configuration.seed)
    }

    /// One group key and the sequence number it has reached.
    struct RatchetKey {
        let key: [UInt8]
        let timestampMillis: UInt64
        var sequence: UInt32 = 0
    }

    /// Writes `manifest.json`, `blobs/`, `local-messages.json` (empty) and `keys.jsonl` into `directory`.
    @discardableResult
    public func write(to directory: URL) throws -> Summary {
        let blobs = directory.appendingPathComponent("blobs")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        var random = SeededGenerator(seed: configuration.seed ^ 0xe9c)
        var summary = Summary()
        summary.communityID = community.communityID.string
        let groupID = community.communityKey.publicKey.compressed
        let rotation = configuration.start + UInt64(configuration.rotationWeek) * FixtureGenerator.week
        let channelLevel = community.channels[1 % community.channels.count]
        let groups = [groupID, groupID, Array(channelLevel.chatID.utf8)]
        var keys = [
            RatchetKey(key: random.bytes(32), timestampMillis: configuration.start * 1000 - 86_400_000),
            RatchetKey(key: random.bytes(32), timestampMillis: rotation * 1000 - 86_400_000),
            RatchetKey(key: random.bytes(32), timestampMillis: configuration.start * 1000 - 3_600_000),
        ]
        summary.keyIDs = zip(keys, groups).map { key, group in
            Hex.encode(HashRatchet.keyID(groupID: group, timestampMillis: key.timestampMillis, groupKey: key.key), prefixed: true)
        }

        // The control node's device, first in every message it builds (as status-go's are).
        let installationID = DemoCommunity.uuid(&random)
        /// Encrypts `bytes` with the next message key of `keys[k]` (of group `groups[k]`).
        func seal(_ bytes: [UInt8], with k: Int) throws -> [UInt8] {
            keys[k].sequence += 1
            return try MessageFactory.hashRatchetMessage(bytes, groupID: groups[k], groupKey: keys[k].key,
                                                         timestampMillis: keys[k].timestampMillis, sequenceNumber: keys[k].sequence,
                                                         nonce: random.bytes(12), installationID: installationID)
        }

        var index = IndexBuilder()
        let topics = community.channels.map(\.topic) + [community.memberUpdateTopic]
        for week in 0..<configuration.weeks {
            let from = configuration.start + UInt64(week) * FixtureGenerator.week
            let k = week < configuration.rotationWeek ? 0 : 1
            var writer = try ArchiveWriter(from: from, to: from + FixtureGenerator.week, contentTopics: topics)
            let times = (0..<configuration.messagesPerWeek).map { _ in UInt64.random(in: from..<from + FixtureGenerator.week, using: &random) }.sorted()
            for (n, time) in times.enumerated() {
                let member = community.members[n % community.members.count]
                let channel = community.channels[n % community.channels.count]
                let amm = try MessageFactory.chatMessage(author: member.key, chatID: channel.chatID, text: "encrypted w\(week) #\(n)",
                                                         clock: time * 1000 + UInt64(n), timestampMillis: time * 1000)
                let payload: [UInt8]
                if n % 5 == 0 {
                    let channelKey = channel.chatID == channelLevel.chatID
                    payload = try seal(amm, with: channelKey ? 2 : k)
                    summary.encryptedMessages += 1
                    if channelKey { summary.channelKeyMessages += 1 }
                } else {
                    payload = try MessageFactory.publicProtocolMessage(amm, installationID: member.installationID)
                }
                let padding = random.bytes(WakuPayloadV1.paddingLength(dataCount: payload.count, signed: true))
                try writer.append(MessageFactory.archived(payload: payload, sender: member.key.publicKey, timestamp: time,
                                                          topic: channel.topic, padding: padding, hash: random.bytes(32)))
                summary.validMessages += 1
            }
            // The whole archive is the payload of one hash-ratchet message (status-go
            // `BuildHashRatchetMessage(communityID, archive)`).
            let sealed = try seal(writer.bytes(), with: k)
            let cid = try CID.codex(of: sealed, .statusArchive, layout: configuration.layout).manifestCID
            try Data(sealed).write(to: blobs.appendingPathComponent(cid.string))
            let archiveID = try index.add(metadata: writer.metadata, cid: cid)
            summary.archiveKeys[archiveID] = summary.keyIDs[k]
        }
        let sealedIndex = try seal(index.bytes(), with: 1)
        let indexCID = try CID.codex(of: sealedIndex, .statusArchive, layout: configuration.layout).manifestCID
        try Data(sealedIndex).write(to: blobs.appendingPathComponent(indexCID.string))
        summary.indexCID = indexCID.string

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let manifest = FixtureDirectory.Manifest(
            communityID: community.communityID, indexCID: indexCID.string, localMessages: "local-messages.json",
            description: "Generated by `community-history control-node generate-fixtures --encrypted --seed \(configuration.seed)`: "
                + "an encrypted community; its keys are in \(Self.keysFile) (`community-history keys import`)",
            controlNodeSeed: configuration.seed, storageLayout: configuration.layout)
        try encoder.encode(manifest).write(to: directory.appendingPathComponent("manifest.json"))
        try Data("[]\n".utf8).write(to: directory.appendingPathComponent("local-messages.json"))

        // The chat client's keys, one JSON object per line (`keys import`).
        struct KeyLine: Encodable {
            var groupID: String
            var timestamp: UInt64
            var key: String
            var keyID: String
        }
        let lines = zip(zip(keys, groups), summary.keyIDs).map { pair, keyID in
            KeyLine(groupID: Hex.encode(pair.1, prefixed: true), timestamp: pair.0.timestampMillis, key: Hex.encode(pair.0.key, prefixed: true), keyID: keyID)
        }
        let lineEncoder = JSONEncoder()
        lineEncoder.outputFormatting = [.sortedKeys]
        let text = try lines.map { String(decoding: try lineEncoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: directory.appendingPathComponent(Self.keysFile))
        return summary
    }
}
