import ControlNode
import Foundation
import GroupKeys
import StatusCrypto
import Testing
@testable import StatusWire

/// Hash-ratchet encrypted messages inside archives, opened with the member's group keys (issue 12, "Decrypt").
@Suite struct HashRatchetDecryptionTests {
    let community = DemoCommunity(seed: 42, memberCount: 3)
    var member: DemoCommunity.Member { community.members[0] }
    var channel: DemoCommunity.Channel { community.channels[0] }
    let groupKey = (0..<32).map { UInt8($0) }
    let timestamp: UInt64 = 1_700_000_000_000
    var groupID: [UInt8] { community.communityID.publicKey.compressed }

    func amm(_ text: String) throws -> [UInt8] {
        try MessageFactory.chatMessage(author: member.key, chatID: channel.chatID, text: text,
                                       clock: 1_700_000_100_000, timestampMillis: 1_700_000_100_000)
    }

    func encryptedEntry(_ text: String, sequence: UInt32, key: [UInt8]? = nil) throws -> WireArchivedWakuMessage {
        let amm = try amm(text)
        var payload = try MessageFactory.hashRatchetMessage(amm, groupID: groupID, groupKey: groupKey, timestampMillis: timestamp, sequenceNumber: sequence)
        if let key {  // the header names our key; the payload is sealed with another one
            let wrong = try MessageFactory.hashRatchetMessage(amm, groupID: groupID, groupKey: key, timestampMillis: timestamp, sequenceNumber: sequence)
            var message = try WireProtocolMessage(serializedBytes: wrong)
            var encrypted = message.encryptedMessage["none"]!
            encrypted.hrHeader = try WireProtocolMessage(serializedBytes: payload).encryptedMessage["none"]!.hrHeader
            message.encryptedMessage["none"] = encrypted
            payload = try message.serializedBytes()
        }
        return MessageFactory.archived(payload: payload, sender: member.key.publicKey, timestamp: 1_700_000_100,
                                       topic: channel.topic, padding: [], hash: [UInt8](repeating: 7, count: 32))
    }

    func unwrap(_ entry: WireArchivedWakuMessage, keys: (any HashRatchetKeyring)?) -> ArchivedMessageUnwrapper.Outcome {
        var unwrapper = ArchivedMessageUnwrapper(communityKey: community.communityKey.publicKey, keys: keys)
        return unwrapper.unwrap(entry)
    }

    /// A gap of 3,000 instead of status-go's 100,000: the same rule, without hashing for seconds
    /// on a debug build (which would hold the test runner's threads).
    func makeRing() -> GroupKeyRing { GroupKeyRing([GroupKey(groupID: groupID, timestampMillis: timestamp, key: groupKey)], maxGap: 3_000) }

    @Test func aMessageOpensWithTheKeyForItsSequenceNumberAndIsVerifiedLikeAnyOther() throws {
        let ring = makeRing()  // one ring for all: later messages start from its checkpoints
        for sequence: UInt32 in [1, 2, 999, 1000, 1001, 2500, 0] {
            guard case .message(let message) = unwrap(try encryptedEntry("secret \(sequence)", sequence: sequence), keys: ring) else {
                Issue.record("sequence \(sequence) did not open")
                continue
            }
            #expect(message.chatMessage?.text == "secret \(sequence)")
            #expect(message.author == member.key.publicKey, "the signature inside is checked as for a public message")
            // status-go's ID: over the AMM that was encrypted, not the encrypted envelope.
            #expect(message.id == MessageID.compute(signer: member.key.publicKey, applicationMessage: try amm("secret \(sequence)")))
        }
    }

    @Test func withoutTheKeyOrWithAWrongOneNothingIsPassedOnAsReadable() throws {
        let ring = makeRing()
        let entry = try encryptedEntry("secret", sequence: 3)
        guard case .rejected(.encryptedKeyUnavailable) = unwrap(entry, keys: nil) else { Issue.record("no keys"); return }
        let other = GroupKeyRing([GroupKey(groupID: groupID, timestampMillis: timestamp + 1, key: groupKey)])
        guard case .rejected(.encryptedKeyUnavailable) = unwrap(entry, keys: other) else { Issue.record("another key ID"); return }
        let sealedWithAnother = try encryptedEntry("secret", sequence: 3, key: [UInt8](repeating: 9, count: 32))
        guard case .rejected(.decryptionFailed) = unwrap(sealedWithAnother, keys: ring) else { Issue.record("wrong key"); return }
        // More than status-go's gap past the furthest the key was ratcheted to: refused; once the
        // ratchet has gone further, the same number is fine.
        let far: UInt32 = 3_000 + 2_000
        guard case .rejected(.decryptionFailed) = unwrap(try encryptedEntry("far", sequence: far), keys: ring) else { Issue.record("past the gap"); return }
        guard case .message = unwrap(try encryptedEntry("near", sequence: 2_500), keys: ring) else { Issue.record("within the gap"); return }
        guard case .message = unwrap(try encryptedEntry("far", sequence: far), keys: ring) else { Issue.record("within the gap now"); return }
    }

    /// The ring's checkpoints give the same keys as ratcheting from the start (§6.6's rule).
    @Test func theRingsCheckpointsAgreeWithTheRatchet() {
        let keyID = HashRatchet.keyID(groupID: groupID, timestampMillis: timestamp, groupKey: groupKey)
        let ring = makeRing()
        for sequence: UInt32 in [2500, 1, 1999, 2000, 2001, 0, 3000] {
            #expect(ring.messageKey(keyID: keyID, sequenceNumber: sequence) == .key(HashRatchet.messageKey(groupKey: groupKey, sequenceNumber: Int(sequence))))
        }
        #expect(ring.messageKey(keyID: [1, 2, 3], sequenceNumber: 1) == .notHeld)
    }
}
