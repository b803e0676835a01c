import Fixtures
import Foundation
import HistoryStore
import StatusCrypto
import StatusWire

/// The control-node side of a fixture: builds a community's weekly archives (signed chat
/// messages wrapped as status-go archives them), the index, the CIDs, and the local copies a
/// member's chat client would hold, all from a fixed seed.
///
/// Besides ordinary chat messages it plants one of each case the importer must handle:
/// zlib and gzip archives, a segmented message, a Discord-style bare AMM with a
/// `thirdPartyId`, a community-signed control message, a non-chat message, a bad signature,
/// a signer mismatch, a hash-ratchet encrypted entry, an encrypted archive, and an index
/// entry whose key does not match.
///
/// ```swift
/// let summary = try FixtureGenerator(configuration: .init(seed: 1)).write(to: directory)
/// ```
public struct FixtureGenerator {
    public struct Configuration: Sendable {
        public var seed: UInt64
        public var weeks: Int
        public var messagesPerWeek: Int
        /// Unix seconds where the first weekly archive starts.
        public var start: UInt64
        /// The manifest layout of the storage node the control node uploads to: it names
        /// every blob and the index's entries.
        public var layout: CodexManifestLayout

        public init(seed: UInt64 = 1, weeks: Int = 9, messagesPerWeek: Int = 600, start: UInt64 = 1_779_926_400,
                    layout: CodexManifestLayout = .current) {
            self.layout = layout
            self.seed = seed
            self.weeks = weeks
            self.messagesPerWeek = messagesPerWeek
            self.start = start
        }
    }

    /// What was planted, so tests can check the importer against the generator's intent.
    public struct Summary: Codable, Sendable, Equatable {
        public var communityID = ""
        public var indexCID = ""
        public var archives = 0
        public var compressions: [String: Int] = [:]
        /// Messages that verify and must be stored.
        public var validMessages = 0
        /// Message rejections planted, by `RejectionReason` raw value.
        public var plantedRejections: [String: Int] = [:]
        public var mismatchedIndexKeys = 0
        public var encryptedArchives = 0
        public var localReplaced = 0
        public var localRemoved = 0
        public var localKept = 0
    }

    public static let week: UInt64 = 7 * 24 * 3600

    public let configuration: Configuration
    public let community: DemoCommunity

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
        self.community = DemoCommunity(seed: configuration.seed)
    }

    private static let words = [
        "archive", "codex", "waku", "history", "node", "sync", "message", "channel", "community", "index",
        "signature", "control", "member", "store", "relay", "topic", "clock", "hello", "release", "test",
    ]

    /// Writes `manifest.json`, `blobs/`, `local-messages.json` into `directory`.
    @discardableResult
    public func write(to directory: URL) throws -> Summary {
        let blobs = directory.appendingPathComponent("blobs")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        var random = SeededGenerator(seed: configuration.seed ^ 0x5eed)
        var summary = Summary()
        summary.communityID = community.communityID.string
        var index = IndexBuilder()
        var local: [StoredMessage] = []
        let topics = community.channels.map(\.topic) + [community.memberUpdateTopic]

        for week in 0..<configuration.weeks {
            let from = configuration.start + UInt64(week) * Self.week
            let to = from + Self.week
            var writer = try ArchiveWriter(from: from, to: to, contentTopics: topics)
            var plan = WeekPlan(week: week, from: from, to: to)
            try writeChatMessages(&writer, plan: &plan, random: &random, summary: &summary)
            try writeSpecialEntries(&writer, week: week, from: from, random: &random, summary: &summary)
            if week >= configuration.weeks - 3 {
                local += localCopies(of: plan, random: &random, summary: &summary)
            }
            let compression: ArchiveCompression = week == 2 ? .gzip : (week % 3 == 0 ? .zlib : .none)
            let bytes = try Deflate.compress(writer.bytes(), format: compression)
            let cid = try CID.codex(of: bytes, .statusArchive, layout: configuration.layout).manifestCID
            try Data(bytes).write(to: blobs.appendingPathComponent(cid.string))
            try index.add(metadata: writer.metadata, cid: cid)
            summary.archives += 1
            summary.compressions[compression.rawValue, default: 0] += 1
            if week == 1 {
                // Same metadata and CID under a key that is not its hash.
                try index.addMismatchedKey("0x" + String(repeating: "0", count: 64), metadata: writer.metadata, cid: cid)
                summary.mismatchedIndexKeys += 1
            }
        }

        // An archive of an encrypted community: a hash-ratchet ProtocolMessage, not an archive.
        let encryptedFrom = configuration.start + UInt64(configuration.weeks) * Self.week
        let encryptedWriter = try ArchiveWriter(from: encryptedFrom, to: encryptedFrom + Self.week, contentTopics: topics)
        let encrypted = try MessageFactory.hashRatchetProtocolMessage(
            groupID: community.communityKey.publicKey.compressed, keyID: random.bytes(32),
            ciphertext: random.bytes(2048))
        let encryptedCID = try CID.codex(of: encrypted, .statusArchive, layout: configuration.layout).manifestCID
        try Data(encrypted).write(to: blobs.appendingPathComponent(encryptedCID.string))
        try index.add(metadata: encryptedWriter.metadata, cid: encryptedCID)
        summary.encryptedArchives += 1

        local += liveMessagesAfterArchives(after: encryptedFrom + Self.week, random: &random, summary: &summary)

        let indexBytes = index.bytes()
        let indexCID = try CID.codex(of: indexBytes, .statusArchive, layout: configuration.layout).manifestCID
        try Data(indexBytes).write(to: blobs.appendingPathComponent(indexCID.string))
        summary.indexCID = indexCID.string

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let manifest = FixtureDirectory.Manifest(
            communityID: community.communityID, indexCID: indexCID.string, localMessages: "local-messages.json",
            description: "Generated by `community-history control-node generate-fixtures --seed \(configuration.seed)`",
            controlNodeSeed: configuration.seed, storageLayout: configuration.layout)
        try encoder.encode(manifest).write(to: directory.appendingPathComponent("manifest.json"))
        try encoder.encode(local).write(to: directory.appendingPathComponent("local-messages.json"))
        return summary
    }

    /// Messages of one week, remembered for the local copies.
    struct WeekPlan {
        let week: Int
        let from: UInt64
        let to: UInt64
        var stored: [StoredMessage] = []
    }

    private func writeChatMessages(
        _ writer: inout ArchiveWriter, plan: inout WeekPlan, random: inout SeededGenerator, summary: inout Summary
    ) throws {
        let times = (0..<configuration.messagesPerWeek)
            .map { _ in UInt64.random(in: plan.from..<plan.to, using: &random) }
            .sorted()
        for (n, time) in times.enumerated() {
            let member = community.members.randomElement(using: &random)!
            let channel = community.channels.randomElement(using: &random)!
            let text = (0..<Int.random(in: 3...12, using: &random))
                .map { _ in Self.words.randomElement(using: &random)! }
                .joined(separator: " ")
            let clock = time * 1000 + UInt64(n % 1000)
            let amm = try MessageFactory.chatMessage(
                author: member.key, chatID: channel.chatID, text: "w\(plan.week) #\(n): \(text)",
                clock: clock, timestampMillis: time * 1000)
            let payload = try MessageFactory.publicProtocolMessage(amm, installationID: member.installationID)
            try writer.append(archivedEntry(payload: payload, sender: member.key.publicKey, time: time, topic: channel.topic, random: &random))
            summary.validMessages += 1
            plan.stored.append(StoredMessage(
                id: MessageID.compute(signer: member.key.publicKey, applicationMessage: amm),
                communityID: community.communityID.string, chatID: channel.chatID, contentTopic: channel.topic.string,
                author: Hex.encode(member.key.publicKey.compressed, prefixed: true), type: 1, clock: clock,
                timestamp: Int64(time) * 1000, payload: Data(), text: "w\(plan.week) #\(n): \(text)", source: .local))
        }
    }

    private func archivedEntry(
        payload: [UInt8], sender: PublicKey, time: UInt64, topic: ContentTopic, random: inout SeededGenerator
    ) -> WireArchivedWakuMessage {
        let padding = random.bytes(WakuPayloadV1.paddingLength(dataCount: payload.count, signed: true))
        return MessageFactory.archived(
            payload: payload, sender: sender, timestamp: time, topic: topic, padding: padding, hash: random.bytes(32))
    }

    private func writeSpecialEntries(
        _ writer: inout ArchiveWriter, week: Int, from: UInt64, random: inout SeededGenerator, summary: inout Summary
    ) throws {
        let member = community.members[week % community.members.count]
        let channel = community.channels[0]
        let time = from + 3600 + UInt64(week)
        switch week {
        case 0:
            // A control message: signed by the community key, waku layer by the owner.
            let amm = try MessageFactory.applicationMessage(type: 25, payload: random.bytes(300), signer: community.communityKey)
            let payload = try MessageFactory.publicProtocolMessage(amm, installationID: "control-node")
            try writer.append(archivedEntry(payload: payload, sender: community.ownerKey.publicKey, time: time,
                                            topic: community.memberUpdateTopic, random: &random))
            summary.validMessages += 1
        case 1:
            // A message too large for one Waku message, archived as three segments.
            let text = String(repeating: "a long message split into segments. ", count: 120)
            let amm = try MessageFactory.chatMessage(author: member.key, chatID: channel.chatID, text: text,
                                                     clock: time * 1000, timestampMillis: time * 1000)
            let payload = try MessageFactory.publicProtocolMessage(amm, installationID: member.installationID)
            for (i, segment) in try MessageFactory.segments(of: payload, count: 3).enumerated().reversed() {
                try writer.append(archivedEntry(payload: segment, sender: member.key.publicKey, time: time + UInt64(i),
                                                topic: channel.topic, random: &random))
            }
            summary.validMessages += 1
        case 2:
            // A Discord import: a bare AMM signed by the community key, with a thirdPartyId.
            let amm = try MessageFactory.chatMessage(author: community.communityKey, chatID: channel.chatID,
                                                     text: "imported from Discord", clock: time * 1000, timestampMillis: time * 1000)
            let id = "discord-\(900_000 + week)"
            try writer.append(MessageFactory.archived(
                payload: amm, sender: community.communityKey.publicKey, timestamp: time, topic: channel.topic,
                padding: [1], hash: Keccak256.hash(Array(id.utf8)), thirdPartyID: id))
            summary.validMessages += 1
        case 3:
            // A signature whose R is out of range: no author recovers.
            let amm = try MessageFactory.chatMessage(author: member.key, chatID: channel.chatID, text: "forged",
                                                     clock: time * 1000, timestampMillis: time * 1000)
            var decoded = try WireApplicationMetadataMessage(serializedBytes: amm)
            var signature = Array(decoded.signature)
            for i in 0..<32 { signature[i] = 0xff }
            decoded.signature = Data(signature)
            let payload = try MessageFactory.publicProtocolMessage(try decoded.serializedBytes(), installationID: member.installationID)
            try writer.append(archivedEntry(payload: payload, sender: member.key.publicKey, time: time, topic: channel.topic, random: &random))
            summary.plantedRejections[RejectionReason.invalidSignature.rawValue, default: 0] += 1
        case 4:
            // A hash-ratchet encrypted message (encrypted channel; no key here) …
            let encrypted = try MessageFactory.hashRatchetProtocolMessage(
                groupID: community.communityKey.publicKey.compressed, keyID: random.bytes(32), ciphertext: random.bytes(200))
            try writer.append(archivedEntry(payload: encrypted, sender: member.key.publicKey, time: time, topic: channel.topic, random: &random))
            summary.plantedRejections[RejectionReason.encryptedKeyUnavailable.rawValue, default: 0] += 1
            // … and a message whose author is not the archived sender.
            let impostor = community.members[(week + 1) % community.members.count]
            let amm = try MessageFactory.chatMessage(author: impostor.key, chatID: channel.chatID, text: "not mine",
                                                     clock: time * 1000, timestampMillis: time * 1000)
            let payload = try MessageFactory.publicProtocolMessage(amm, installationID: member.installationID)
            try writer.append(archivedEntry(payload: payload, sender: member.key.publicKey, time: time + 1, topic: channel.topic, random: &random))
            summary.plantedRejections[RejectionReason.signerMismatch.rawValue, default: 0] += 1
        case 5:
            // A non-chat message (an emoji reaction): kept with its raw payload and type.
            let amm = try MessageFactory.applicationMessage(type: 22, payload: random.bytes(60), signer: member.key)
            let payload = try MessageFactory.publicProtocolMessage(amm, installationID: member.installationID)
            try writer.append(archivedEntry(payload: payload, sender: member.key.publicKey, time: time, topic: channel.topic, random: &random))
            summary.validMessages += 1
        default:
            break
        }
    }

    /// What a member's chat client holds for a recent week: copies of archive messages (some
    /// edited locally, all replaced by the archive) and messages the control node never
    /// archived (removed), plus messages on a topic the archive does not cover (kept).
    private func localCopies(of plan: WeekPlan, random: inout SeededGenerator, summary: inout Summary) -> [StoredMessage] {
        var local: [StoredMessage] = []
        for (i, message) in plan.stored.enumerated() where i % 40 == 0 {
            var copy = message
            if i % 80 == 0 { copy.text = (copy.text ?? "") + " (local draft)" }
            local.append(copy)
            summary.localReplaced += 1
        }
        for i in 0..<5 {
            let channel = community.channels[i % community.channels.count]
            let time = plan.from + UInt64(i) * 7200 + 60
            local.append(localMessage(id: "0xlocal-only-w\(plan.week)-\(i)", chatID: channel.chatID,
                                      topic: channel.topic, time: time, text: "never archived \(i)"))
            summary.localRemoved += 1
        }
        let other = ContentTopic(chatID: community.communityID.string + "-ping")
        local.append(localMessage(id: "0xother-topic-w\(plan.week)", chatID: nil, topic: other,
                                  time: plan.from + 100, text: "status ping"))
        summary.localKept += 1
        return local
    }

    private func liveMessagesAfterArchives(after: UInt64, random: inout SeededGenerator, summary: inout Summary) -> [StoredMessage] {
        (0..<4).map { i in
            let channel = community.channels[i % community.channels.count]
            summary.localKept += 1
            return localMessage(id: "0xlive-\(i)", chatID: channel.chatID, topic: channel.topic,
                                time: after + UInt64(i) * 600, text: "live after the last archive \(i)")
        }
    }

    private func localMessage(id: String, chatID: String?, topic: ContentTopic, time: UInt64, text: String) -> StoredMessage {
        let author = community.members[0].key.publicKey
        return StoredMessage(
            id: id, communityID: community.communityID.string, chatID: chatID, contentTopic: topic.string,
            author: Hex.encode(author.compressed, prefixed: true), type: 1, clock: time * 1000,
            timestamp: Int64(time) * 1000, payload: Data(), text: text, source: .local)
    }
}
