import Crypto
import Foundation
import StatusCrypto
import SwiftProtobuf
import Testing
@testable import StatusWire

/// Every entry of vectors.json, reproduced.
@Suite struct VectorTests {
    let communityKey = try! PrivateKey(bytes: Vectors.bytes("keys", "community_private_key"))
    let ownerKey = try! PrivateKey(bytes: Vectors.bytes("keys", "owner_user_private_key (waku-layer signer)"))
    let memberKey = try! PrivateKey(bytes: Vectors.bytes("keys", "member_private_key"))
    static let announcement = "archive_index_cid_message"

    @Test func keys() {
        #expect(communityKey.publicKey.compressed == Vectors.bytes("keys", "community_pubkey_compressed_33"))
        #expect(communityKey.publicKey.uncompressed == Vectors.bytes("keys", "community_pubkey_uncompressed_65"))
        #expect(communityKey.publicKey.description == Vectors.string("keys", "community_id_string"))
        #expect(ownerKey.publicKey.uncompressed == Vectors.bytes("keys", "owner_user_pubkey_uncompressed"))
        #expect(memberKey.publicKey.uncompressed == Vectors.bytes("keys", "member_pubkey_uncompressed"))
    }

    @Test func topicsAndSymmetricKeys() throws {
        let table = Vectors.value("topics_and_symkeys") as! [String: [String: String]]
        #expect(table.count == 6)
        for (name, row) in table {
            let chatID = row["chat_id"]!
            #expect(Hex.encode(Keccak256.hash(Array(chatID.utf8))) == row["keccak256(chat_id ascii)"], "\(name)")
            let topic = ContentTopic(chatID: chatID)
            #expect(Hex.encode(topic.bytes, prefixed: true) == row["topic4"], "\(name)")
            #expect(topic.string == row["content_topic"], "\(name)")
            let key = try ChatSymmetricKey.derive(chatID: chatID)
            #expect(key.withUnsafeBytes { Hex.encode($0) } == row["pbkdf2_sha256_symkey(iter=65356,salt='',len=32)"], "\(name)")
        }
        let id = try CommunityID(Vectors.string("keys", "community_id_string"))
        #expect(id.string == Vectors.string("keys", "community_id_string"))
        #expect(table["archive channel (legacy) = IDString()+'-magnetlinks'"]!["chat_id"] == CommunityChatID.magnetlinks(id))
        #expect(table["universal chat id = IDString()+'-memberUpdate'"]!["chat_id"] == CommunityChatID.memberUpdate(id))
    }

    @Test func simple() throws {
        #expect(Hex.encode(Keccak256.hash([UInt8]())) == Vectors.string("simple", "keccak256('')"))
        #expect(Hex.encode(Keccak256.hash(Array("abc".utf8))) == Vectors.string("simple", "keccak256('abc')"))
        let key = try ChatSymmetricKey.derive(chatID: "test-chat")
        #expect(key.withUnsafeBytes { Hex.encode($0) } == Vectors.string("simple", "pbkdf2('test-chat',65356)"))
        #expect(Hex.encode(ContentTopic(chatID: "test-chat").bytes, prefixed: true) == Vectors.string("simple", "ToTopic('test-chat')"))
        #expect(ContentTopic(chatID: "test-chat").string == Vectors.string("simple", "content_topic('test-chat')"))
    }

    /// Issue 29: keys kept from an earlier start are taken as they are (none is derived again),
    /// and a kept value that is not a key is ignored: the key is derived when asked for.
    @Test func rememberedChatKeysAreUsedAndDamagedOnesDerivedAgain() throws {
        let kept = "remembered-\(UUID().uuidString)"
        let damaged = "damaged-\(UUID().uuidString)"
        #expect(!ChatSymmetricKey.isKnown(chatID: kept))
        ChatSymmetricKey.remember([kept: [UInt8](repeating: 7, count: 32), damaged: [1, 2, 3]])
        #expect(ChatSymmetricKey.isKnown(chatID: kept) && !ChatSymmetricKey.isKnown(chatID: damaged))
        #expect(try ChatSymmetricKey.bytes(chatID: kept) == [UInt8](repeating: 7, count: 32))
        // Derived (what `simple` checks against the vector), not the damaged bytes.
        let derived = try ChatSymmetricKey.bytes(chatID: damaged)
        #expect(derived.count == 32 && ChatSymmetricKey.isKnown(chatID: damaged))
    }

    @Test func announcementLayersEncodeByteExact() throws {
        let v = Self.announcement
        let fields = Vectors.value(v, "CommunityMessageArchiveIndexCid{clock,cid}") as! [String: Any]
        var link = WireCommunityMessageArchiveLink()
        link.clock = (fields["clock"] as! NSNumber).uint64Value
        link.link = fields["cid"] as! String
        let inner: [UInt8] = try link.serializedBytes()
        #expect(inner == Vectors.bytes(v, "inner_payload_protobuf"))
        #expect(Keccak256.hash(inner) == Vectors.bytes(v, "keccak256(inner_payload)"))

        let signature = try communityKey.sign(digest: Keccak256.hash(inner))
        #expect(signature == Vectors.bytes(v, "app_signature_65 (R||S||V, V in {0,1}) by community key"))
        let signer = try PublicKey.recover(signature: signature, digest: Keccak256.hash(inner))
        #expect(signer.compressed == Vectors.bytes(v, "recovered_signer_compressed"))
        #expect((signer == communityKey.publicKey) == (Vectors.value(v, "recovered_signer == community id") as! Bool))

        var amm = WireApplicationMetadataMessage()
        amm.signature = Data(signature)
        amm.payload = Data(inner)
        amm.type = 43
        let ammBytes: [UInt8] = try amm.serializedBytes()
        #expect(ammBytes == Vectors.bytes(v, "ApplicationMetadataMessage{1:sig,2:payload,3:type=43}"))
        #expect(MessageID.compute(signer: signer, applicationMessage: ammBytes)
                == Vectors.string(v, "message_id = keccak256(uncompressed_signer_pub_65 || amm_bytes)"))

        var protocolMessage = WireProtocolMessage()
        protocolMessage.installationID = "11111111-2222-3333-4444-555555555555"
        protocolMessage.publicMessage = Data(ammBytes)
        let protocolBytes: [UInt8] = try protocolMessage.serializedBytes()
        #expect(protocolBytes == Vectors.bytes(v, "ProtocolMessage{2:installation_id,102:public_message}"))

        let plaintext = try WakuPayloadV1.encode(data: protocolBytes, signer: ownerKey, padding: [UInt8](repeating: 0xaa, count: 15))
        #expect(plaintext == Vectors.bytes(v, "waku_v1_plaintext (flags|size|data|padding(0xAA*15)|sig)"))
        #expect(Hex.encode([plaintext[0]], prefixed: true) == Vectors.string(v, "waku_v1_flags_byte"))
        #expect(plaintext.count == Vectors.value(v, "waku_v1_plaintext_len (multiple of 256)") as! Int)
        #expect(WakuPayloadV1.paddingLength(dataCount: protocolBytes.count, signed: true) == 15)

        let symmetricKey = try ChatSymmetricKey.derive(chatID: CommunityChatID.memberUpdate(CommunityID(publicKey: communityKey.publicKey)))
        #expect(symmetricKey.withUnsafeBytes { Array($0) } == Vectors.bytes(v, "symkey (universal chat)"))
        let wire = try WakuSymmetricCipher.seal(plaintext, key: symmetricKey, nonce: Vectors.bytes(v, "aes_gcm_nonce (fixed for test; random in real life)"))
        #expect(wire == Vectors.bytes(v, "waku_payload = ct||tag16||nonce12"))

        var waku2 = WireWaku2Message()
        waku2.payload = Data(wire)
        waku2.contentTopic = Vectors.string(v, "content_topic")
        waku2.version = 1
        waku2.timestamp = 1_700_000_000_123_456_789
        waku2.meta = Data()
        #expect((try waku2.serializedBytes() as [UInt8]) == Vectors.bytes(v, "WakuMessage(14/WAKU2) protobuf"))
        #expect(Hex.encode(WakuMessageHash.compute(pubsubTopic: Vectors.string(v, "pubsub_topic"), message: waku2), prefixed: true)
                == Vectors.string(v, "waku_message_hash sha256(pubsub||payload||ctopic||meta||ts_be8)"))
    }

    @Test func announcementDecodesFromTheWire() throws {
        let v = Self.announcement
        let key = try ChatSymmetricKey.derive(chatID: CommunityChatID.memberUpdate(CommunityID(publicKey: communityKey.publicKey)))
        let plaintext = try WakuSymmetricCipher.open(Vectors.bytes(v, "waku_payload = ct||tag16||nonce12"), key: key)
        let payload = try WakuPayloadV1.decode(plaintext)
        #expect(payload.signer?.uncompressed == Vectors.bytes(v, "waku_layer_signer (owner USER key, not community key)"))
        #expect(payload.padding == [UInt8](repeating: 0xaa, count: 15))
        let protocolMessage = try WireProtocolMessage(serializedBytes: payload.data)
        let amm = try WireApplicationMetadataMessage(serializedBytes: protocolMessage.publicMessage)
        let link = try WireCommunityMessageArchiveLink(serializedBytes: amm.payload)
        #expect(link.link == "zDvZRwzm8K7bcyPeBXcZzWD7AWc4VqNuseduDr3VsuYA1yXej49V")
        #expect(try CID(link.link).codec == CID.codexManifestCodec)
        // A wrong key fails authentication rather than yielding garbage.
        let wrong = try ChatSymmetricKey.derive(chatID: "test-chat")
        #expect(throws: CipherError.authenticationFailed) {
            try WakuSymmetricCipher.open(Vectors.bytes(v, "waku_payload = ct||tag16||nonce12"), key: wrong)
        }
    }

    @Test func magnetlinkMessage() throws {
        var link = WireCommunityMessageArchiveLink()
        link.clock = 1_700_000_000_000
        link.link = Vectors.string("magnetlink_message_inner", "magnet_uri")
        #expect((try link.serializedBytes() as [UInt8]) == Vectors.bytes("magnetlink_message_inner", "protobuf"))
    }

    @Test func chatMessage() throws {
        let fields = Vectors.value("chat_message", "ChatMessage") as! [String: Any]
        var chat = WireChatMessage()
        chat.clock = (fields["clock"] as! NSNumber).uint64Value
        chat.timestamp = (fields["timestamp"] as! NSNumber).uint64Value
        chat.text = fields["text"] as! String
        chat.chatID = fields["chat_id"] as! String
        chat.messageType = 5
        chat.contentType = 1
        let chatBytes: [UInt8] = try chat.serializedBytes()
        #expect(chatBytes == Vectors.bytes("chat_message", "ChatMessage protobuf"))
        let signature = try memberKey.sign(digest: Keccak256.hash(chatBytes))
        #expect(signature == Vectors.bytes("chat_message", "author signature"))
        var amm = WireApplicationMetadataMessage()
        amm.signature = Data(signature)
        amm.payload = Data(chatBytes)
        amm.type = 1
        let ammBytes: [UInt8] = try amm.serializedBytes()
        #expect(ammBytes == Vectors.bytes("chat_message", "AMM(type=1 CHAT_MESSAGE)"))
        #expect(MessageID.compute(signer: memberKey.publicKey, applicationMessage: ammBytes) == Vectors.string("chat_message", "message_id (user_messages.id)"))
        var protocolMessage = WireProtocolMessage()
        protocolMessage.installationID = "11111111-2222-3333-4444-555555555555"
        protocolMessage.publicMessage = Data(ammBytes)
        #expect((try protocolMessage.serializedBytes() as [UInt8]) == Vectors.bytes("chat_message", "ProtocolMessage(public)"))
    }

    @Test func archiveDecodesAndUnwrapsToTheChatMessage() throws {
        var metadata = WireWakuMessageArchiveMetadata()
        metadata.from = 1_700_000_000
        metadata.to = 1_700_604_800
        metadata.contentTopic = [Data([0x5b, 0x63, 0x7a, 0x7c]), Data([0xef, 0x94, 0x79, 0x9c])]
        #expect((try metadata.serializedBytes() as [UInt8]) == Vectors.bytes("archive", "WakuMessageArchiveMetadata"))

        let (source, compression) = try ArchiveInput.open(bytes: Vectors.bytes("archive", "WakuMessageArchive (1 message)"))
        #expect(compression == .none)
        var reader = ArchiveReader(source: source)
        var unwrapper = ArchivedMessageUnwrapper(communityKey: communityKey.publicKey)
        var messages: [UnwrappedMessage] = []
        var sawMetadata = false
        while let element = try reader.next() {
            switch element {
            case .metadata(let found): sawMetadata = found == metadata
            case .message(let archived):
                #expect(archived.timestamp == 1_700_000_100)
                #expect(archived.padding == Data([0xaa, 0xaa, 0xaa]))
                if case .message(let message) = unwrapper.unwrap(archived) { messages.append(message) }
            }
        }
        #expect(sawMetadata)
        #expect(messages.count == 1)
        #expect(messages.first?.id == Vectors.string("chat_message", "message_id (user_messages.id)"))
        #expect(messages.first?.author == memberKey.publicKey)
        #expect(messages.first?.chatMessage?.text == "hello archive")
        #expect(messages.first?.contentTopic.string == "/waku/1/0x5b637a7c/rfc26")
    }

    @Test func indexEntryAndArchiveIDs() throws {
        let metadataBytes = Vectors.bytes("archive", "CodexWakuMessageArchiveIndexMetadata{2:metadata,3:cid}")
        var entry = WireArchiveIndexMetadata()
        entry.metadata = try WireWakuMessageArchiveMetadata(serializedBytes: Vectors.bytes("archive", "WakuMessageArchiveMetadata"))
        entry.cid = "zDvZRwzmArchiveCidExample"
        #expect((try entry.serializedBytes() as [UInt8]) == metadataBytes)
        let archiveID = Vectors.string("archive", "archive_id = crypto.Keccak256Hash(metadataBytes).String()")
        #expect(Hex.encode(Keccak256.hash(metadataBytes), prefixed: true) == archiveID)
        #expect(Hex.encode(Keccak256.hash(Vectors.bytes("archive", "torrent WakuMessageArchiveIndexMetadata{offset=0,size=102400,padding}")), prefixed: true)
                == Vectors.string("archive", "torrent archive_id"))

        // The vector's example CID is not a real base58 CID, so the entry's key checks out
        // but the entry is rejected for its CID: the index reports it rather than failing.
        let index = try ArchiveIndex(bytes: Vectors.bytes("archive", "CodexWakuMessageArchiveIndex (single entry)"))
        #expect(index.entries.isEmpty)
        #expect(index.rejected.map(\.key) == [archiveID])
        #expect(index.rejected.first?.reason.contains("invalid CID") == true)
    }

    @Test func hashRatchet() throws {
        let v = "hash_ratchet"
        let key = Vectors.bytes(v, "K")
        #expect(HashRatchet.keyID(groupID: Vectors.bytes(v, "groupID (community id bytes)"),
                                  timestampMillis: UInt64(Vectors.value(v, "timestamp") as! Int), groupKey: key)
                == Vectors.bytes(v, "keyID = keccak256(groupID||LE64(ts)||K)"))
        #expect(HashRatchet.messageKey(groupKey: key, sequenceNumber: 1) == Vectors.bytes(v, "seqNo=1 key = keccak^1(K)"))
        #expect(HashRatchet.messageKey(groupKey: key, sequenceNumber: 2) == Vectors.bytes(v, "seqNo=2 key = keccak^2(K)"))
        #expect(HashRatchet.messageKey(groupKey: key, sequenceNumber: 3) == Vectors.bytes(v, "seqNo=3 key = keccak^3(K)"))
    }
}

extension VectorTests {
    @Test func archiveChannelDecodesTheVectorAnnouncement() throws {
        let v = Self.announcement
        let channel = ArchiveChannel(communityID: try CommunityID(Vectors.string("keys", "community_id_string")))
        #expect(channel.contentTopics.contains(Vectors.string(v, "content_topic")))
        guard case .announcement(let announcement) = channel.decode(payload: Vectors.bytes(v, "waku_payload = ct||tag16||nonce12"),
                                                                     contentTopic: Vectors.string(v, "content_topic")) else {
            Issue.record("not decoded as an announcement")
            return
        }
        #expect(announcement.clock == 1_700_000_000_000)
        #expect(announcement.indexCID.string == "zDvZRwzm8K7bcyPeBXcZzWD7AWc4VqNuseduDr3VsuYA1yXej49V")
        #expect(announcement.signerID.string == Vectors.string("keys", "community_id_string"))
        #expect(announcement.messageType == 43)
        // On a topic it was not encrypted for, it does not decrypt.
        guard case .rejected(.undecryptable) = channel.decode(payload: Vectors.bytes(v, "waku_payload = ct||tag16||nonce12"),
                                                              contentTopic: channel.contentTopics[0]) else {
            Issue.record("decrypted with the wrong chat's key")
            return
        }
    }
}
