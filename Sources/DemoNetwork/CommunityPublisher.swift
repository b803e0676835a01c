import CodexClient
import ControlNode
import Fixtures
import Foundation
import StatusCrypto
import StatusWire
import WakuClient

/// The control node's side of the demo: puts a fixture community on a storage node of the
/// generation its CIDs were written for (`FixtureDirectory.layout`; every
/// blob: archives and index) and announces the index on the archive channel of a Waku node, on the community's pubsub topic.
///
/// ```swift
/// let publisher = try CommunityPublisher(fixture: fixture)
/// try await publisher.uploadBlobs(to: codex)
/// try await publisher.announce(on: waku, clock: 1_700_000_000_000)
/// ```
public struct CommunityPublisher: Sendable {
    public let fixture: FixtureDirectory
    public let community: DemoCommunity

    public init(fixture: FixtureDirectory) throws {
        guard let seed = fixture.manifest.controlNodeSeed else {
            throw FixtureError.invalid("the fixture's manifest has no controlNodeSeed: only demo fixtures can be published")
        }
        community = DemoCommunity(seed: seed)
        guard community.communityID == fixture.manifest.communityID else {
            throw FixtureError.invalid("controlNodeSeed \(seed) does not give the fixture's community ID")
        }
        self.fixture = fixture
    }

    public var indexCID: String { fixture.manifest.indexCID }

    /// Uploads every blob as status-go does (`archive-data.bin`, `application/octet-stream`); the
    /// node must answer the CID each is filed under.
    @discardableResult
    public func uploadBlobs(to codex: CodexClient) async throws -> Int {
        let blobs = fixture.url.appendingPathComponent("blobs")
        let names = try FileManager.default.contentsOfDirectory(atPath: blobs.path).filter { !$0.hasPrefix(".") }.sorted()
        for name in names {
            let data = try Data(contentsOf: blobs.appendingPathComponent(name))
            let cid = try await codex.upload(data, attributes: .statusArchive)
            guard cid.string == name else {
                // The index names the archives by the CIDs of the node the fixture was made for:
                // on a node of another generation it would name nothing.
                if let nodeLayout = try? CID.codex(of: data, .statusArchive).layout(matching: cid) {
                    throw FixtureError.invalid("the storage node writes the \(nodeLayout) manifest layout and answered \(cid) for blob \(name); "
                        + "the fixture's CIDs are in the \(fixture.layout) layout: publish it on a node of that generation, or "
                        + "regenerate it with `control-node generate-fixtures --layout \(nodeLayout)`")
                }
                throw FixtureError.invalid("the storage node answered \(cid) for blob \(name): the fixture's CIDs are not storage node CIDs "
                    + "(regenerate it with `control-node generate-fixtures`)")
            }
        }
        return names.count
    }

    /// Publishes an announcement of `link` (default: the fixture's index) signed by `signer`
    /// (default: the community key; another key makes a forgery).
    public func announce(
        on waku: WakuClient, clock: UInt64, link: String? = nil, signer: PrivateKey? = nil,
        channel: String? = nil, timestamp: Date = Date(), seed: UInt64 = 7, pubsubTopic: String = WakuClient.defaultPubsubTopic
    ) async throws {
        var random = SeededGenerator(seed: seed ^ clock)
        let chatID = channel ?? CommunityChatID.memberUpdate(community.communityID)
        let payload = try AnnouncementFactory.payload(
            clock: clock, link: link ?? indexCID, chatID: chatID, communityKey: signer ?? community.communityKey,
            ownerKey: community.ownerKey, random: &random)
        try await waku.publish(WakuMessage(
            payload: Data(payload), contentTopic: ContentTopic(chatID: chatID).string, version: 1,
            timestamp: Int64(timestamp.timeIntervalSince1970 * 1e9)), pubsubTopic: pubsubTopic)
    }

    /// Publishes the community's description (its channel names) on its own chat, signed by
    /// `signer` (default: the community key; another key makes a forgery).
    public func describe(
        on waku: WakuClient, clock: UInt64, names: [String]? = nil, signer: PrivateKey? = nil, timestamp: Date = Date(),
        pubsubTopic: String = WakuClient.defaultPubsubTopic
    ) async throws {
        var random = SeededGenerator(seed: 11 ^ clock)
        let channels = community.channels.enumerated().map { index, channel in
            (uuid: channel.uuid, name: names.flatMap { index < $0.count ? $0[index] : nil } ?? channel.name)
        }
        let payload = try AnnouncementFactory.descriptionPayload(
            clock: clock, channels: channels, communityID: community.communityID, signer: signer ?? community.communityKey,
            random: &random)
        try await waku.publish(WakuMessage(
            payload: Data(payload), contentTopic: ContentTopic(chatID: community.communityID.string).string, version: 1,
            timestamp: Int64(timestamp.timeIntervalSince1970 * 1e9)), pubsubTopic: pubsubTopic)
    }
}
