import StatusCrypto

/// A control node's "the archive index is at this CID" message, decoded and with its signer
/// recovered. Whether the signer is the community is for the caller (the sync machine) to judge.
public struct ArchiveAnnouncement: Sendable, Hashable {
    /// Milliseconds (the control node's NTP-corrected clock).
    public var clock: UInt64
    public var indexCID: CID
    /// Recovered from the ApplicationMetadataMessage signature.
    public var signer: PublicKey
    public var messageType: UInt32
    /// The content topic it arrived on.
    public var contentTopic: String

    public init(clock: UInt64, indexCID: CID, signer: PublicKey, messageType: UInt32, contentTopic: String) {
        self.clock = clock
        self.indexCID = indexCID
        self.signer = signer
        self.messageType = messageType
        self.contentTopic = contentTopic
    }

    /// The signer as a community ID: equals the community's when the control node signed.
    public var signerID: CommunityID { CommunityID(publicKey: signer) }
}

/// Why a message on an archive channel is not an announcement. Raw values appear in reports.
public enum AnnouncementRejection: String, Sendable, Codable, CaseIterable {
    case undecryptable = "undecryptable"
    case malformedEnvelope = "malformed-envelope"
    case notApplicationMessage = "not-an-application-message"
    case invalidSignature = "invalid-signature"
    case notAnArchiveLink = "not-an-archive-link"
    case torrentArchive = "torrent-archives-not-supported"
    case invalidCID = "invalid-cid"
    case notSignedByCommunity = "not-signed-by-community"
}

public enum AnnouncementDecoding: Sendable {
    case announcement(ArchiveAnnouncement)
    case rejected(AnnouncementRejection)
}
