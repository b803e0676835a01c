import ControlNode
import Foundation
import StatusCrypto
import SwiftProtobuf
import Testing
@testable import StatusWire

/// Archives built by the control-node code, decoded by the member side.
@Suite struct ArchiveDecodingTests {
    let community = DemoCommunity(seed: 42, memberCount: 3)
    var member: DemoCommunity.Member { community.members[0] }
    var channel: DemoCommunity.Channel { community.channels[0] }

    func chatEntry(_ text: String, time: UInt64 = 1_700_000_100) throws -> WireArchivedWakuMessage {
        let amm = try MessageFactory.chatMessage(author: member.key, chatID: channel.chatID, text: text,
                                                 clock: time * 1000, timestampMillis: time * 1000)
        let payload = try MessageFactory.publicProtocolMessage(amm, installationID: member.installationID)
        return MessageFactory.archived(payload: payload, sender: member.key.publicKey, timestamp: time,
                                       topic: channel.topic, padding: [1, 2, 3], hash: [UInt8](repeating: 7, count: 32))
    }

    func archive(_ entries: [WireArchivedWakuMessage]) throws -> [UInt8] {
        var writer = try ArchiveWriter(from: 1_700_000_000, to: 1_700_604_800, contentTopics: [channel.topic])
        for entry in entries { try writer.append(entry) }
        return writer.bytes()
    }

    func decodeAll(_ bytes: [UInt8], limits: DecodingLimits = .default) throws -> (texts: [String], rejected: [RejectionReason], pending: Int) {
        let (source, _) = try ArchiveInput.open(bytes: bytes, limits: limits)
        var reader = ArchiveReader(source: source, limits: limits)
        var unwrapper = ArchivedMessageUnwrapper(communityKey: community.communityKey.publicKey)
        var texts: [String] = []
        var rejected: [RejectionReason] = []
        while let element = try reader.next() {
            guard case .message(let archived) = element else { continue }
            switch unwrapper.unwrap(archived) {
            case .message(let message): texts.append(message.chatMessage?.text ?? "type \(message.type)")
            case .rejected(let reason): rejected.append(reason)
            case .pending: break
            }
        }
        return (texts, rejected, unwrapper.incompleteSegmentedMessages())
    }

    @Test(arguments: [ArchiveCompression.none, .zlib, .gzip])
    func decodesRawZlibAndGzipArchivesAlike(compression: ArchiveCompression) throws {
        let raw = try archive([try chatEntry("one"), try chatEntry("two")])
        let stored = try Deflate.compress(raw, format: compression)
        let (_, detected) = try ArchiveInput.open(bytes: stored)
        #expect(detected == compression)
        #expect(try decodeAll(stored).texts == ["one", "two"])
    }

    @Test func corruptZlibIsAClearError() throws {
        var stored = try Deflate.compress(try archive([try chatEntry("one")]), format: .zlib)
        for i in 10..<min(40, stored.count) { stored[i] ^= 0x5a }
        #expect {
            _ = try decodeAll(stored)
        } throws: { error in
            guard case ArchiveDecodingError.corruptCompression(let format, _) = error else { return false }
            return format == "zlib"
        }
    }

    @Test func truncatedZlibStreamIsAClearError() throws {
        let stored = try Deflate.compress(try archive((0..<50).map { try chatEntry("message \($0)") }), format: .zlib)
        #expect(throws: ArchiveDecodingError.self) { _ = try decodeAll(Array(stored.prefix(stored.count / 2))) }
    }

    @Test func decompressionBombStopsAtTheLimit() throws {
        // A well-formed archive of 640 entries of 100 KiB zeros: 64 MiB that deflate to
        // ~64 KiB. Decoding stops once 1 MiB has been inflated.
        var zeros = try chatEntry("x")
        zeros.payload = Data(count: 100 << 10)
        let bomb = try Deflate.compress(try archive([WireArchivedWakuMessage](repeating: zeros, count: 640)), format: .zlib, level: 9)
        #expect(bomb.count < 1 << 20)
        let limits = DecodingLimits(maxInflatedBytes: 1 << 20, maxMessageBytes: 1 << 20)
        #expect(throws: ArchiveDecodingError.inflatedSizeExceeded(limit: 1 << 20)) { _ = try decodeAll(bomb, limits: limits) }
        // Plain zeros are not even protobuf: rejected at the first byte.
        let zerosBomb = try Deflate.compress([UInt8](repeating: 0, count: 64 << 20), format: .zlib, level: 9)
        #expect(throws: ArchiveDecodingError.self) { _ = try decodeAll(zerosBomb, limits: limits) }
    }

    @Test func uncompressedArchivesObeyTheSizeLimitToo() throws {
        let raw = try archive((0..<100).map { try chatEntry("message \($0)") })
        let limits = DecodingLimits(maxInflatedBytes: raw.count / 2, maxMessageBytes: 1 << 20)
        #expect(throws: ArchiveDecodingError.inflatedSizeExceeded(limit: raw.count / 2)) { _ = try decodeAll(raw, limits: limits) }
    }

    @Test func oversizedFieldIsRejectedBeforeItIsRead() throws {
        // Field 3, length 2 GiB, and nothing behind it.
        var bytes = try archive([])
        bytes += [0x1a, 0x80, 0x80, 0x80, 0x80, 0x08]
        #expect(throws: ArchiveDecodingError.fieldTooLarge(size: 2 << 30, limit: DecodingLimits.default.maxMessageBytes)) {
            _ = try decodeAll(bytes)
        }
    }

    @Test func truncatedProtobufIsAClearError() throws {
        let raw = try archive([try chatEntry("one"), try chatEntry("two")])
        #expect {
            _ = try decodeAll(Array(raw.dropLast(10)))
        } throws: { error in
            guard case ArchiveDecodingError.truncated = error else { return false }
            return true
        }
    }

    @Test func notAnArchiveIsMalformed() throws {
        #expect(throws: ArchiveDecodingError.self) { _ = try decodeAll(Array("this is not protobuf at all".utf8)) }
    }

    @Test func hashRatchetArchiveIsRecognisedAsEncrypted() throws {
        var encrypted = try MessageFactory.hashRatchetProtocolMessage(groupID: [1, 2, 3], keyID: [4], ciphertext: [UInt8](repeating: 9, count: 100))
        #expect(throws: ArchiveDecodingError.encrypted(what: "archive")) { _ = try decodeAll(encrypted) }
        // With an installation ID first (fields 2 and 3 precede 101), classification still works.
        var withInstallation = WireProtocolMessage()
        withInstallation.installationID = "device"
        encrypted = (try withInstallation.serializedBytes() as [UInt8]) + encrypted
        #expect(ArchiveReader.isHashRatchetEncrypted(source: MemoryByteSource(encrypted)))
        #expect(!ArchiveReader.isHashRatchetEncrypted(source: MemoryByteSource(try archive([try chatEntry("x")]))))
    }

    @Test func segmentsReassembleInAnyOrderAndKeepTheEarliestTime() throws {
        let amm = try MessageFactory.chatMessage(author: member.key, chatID: channel.chatID, text: String(repeating: "long ", count: 300),
                                                 clock: 1, timestampMillis: 1)
        let payload = try MessageFactory.publicProtocolMessage(amm, installationID: "i")
        let segments = try MessageFactory.segments(of: payload, count: 4)
        let entries = [2, 0, 3, 1].map { i in
            MessageFactory.archived(payload: segments[i], sender: member.key.publicKey, timestamp: 1_700_000_200 + UInt64(i),
                                    topic: channel.topic, padding: [], hash: [])
        }
        let (source, _) = try ArchiveInput.open(bytes: try archive(entries))
        var reader = ArchiveReader(source: source)
        var unwrapper = ArchivedMessageUnwrapper(communityKey: nil)
        var results: [UnwrappedMessage] = []
        while let element = try reader.next() {
            if case .message(let archived) = element, case .message(let message) = unwrapper.unwrap(archived) { results.append(message) }
        }
        #expect(results.count == 1)
        #expect(results.first?.chatMessage?.text == String(repeating: "long ", count: 300))
        #expect(results.first?.timestamp == 1_700_000_200)
        #expect(results.first?.id == MessageID.compute(signer: member.key.publicKey, applicationMessage: amm))
    }

    @Test func missingOrCorruptSegmentsAreReported() throws {
        let payload = try MessageFactory.publicProtocolMessage(
            try MessageFactory.chatMessage(author: member.key, chatID: channel.chatID, text: "segmented", clock: 1, timestampMillis: 1),
            installationID: "i")
        let segments = try MessageFactory.segments(of: payload, count: 3)
        func entry(_ bytes: [UInt8]) -> WireArchivedWakuMessage {
            MessageFactory.archived(payload: bytes, sender: member.key.publicKey, timestamp: 1_700_000_300, topic: channel.topic, padding: [], hash: [])
        }
        let incomplete = try decodeAll(try archive([entry(segments[0]), entry(segments[2])]))
        #expect(incomplete.texts.isEmpty && incomplete.pending == 1)

        var tampered = try WireSegmentMessage(serializedBytes: segments[1])
        tampered.payload = Data(repeating: 0x41, count: tampered.payload.count)
        let corrupt = try decodeAll(try archive([entry(segments[0]), entry(try tampered.serializedBytes()), entry(segments[2])]))
        #expect(corrupt.rejected == [.segmentHashMismatch])
    }

    @Test func bareApplicationMessagesAreAcceptedLikeDiscordImports() throws {
        // Type 43 (a link) as a bare AMM must not be mistaken for a segment (field 3 = 43).
        for type: UInt32 in [1, 43, 22] {
            let payload: [UInt8]
            if type == 1 {
                payload = try MessageFactory.chatMessage(author: community.communityKey, chatID: channel.chatID, text: "from discord", clock: 5, timestampMillis: 5)
            } else {
                payload = try MessageFactory.applicationMessage(type: type, payload: [8, 1, 18, 2, 104, 105], signer: community.communityKey)
            }
            let entry = MessageFactory.archived(payload: payload, sender: community.communityKey.publicKey, timestamp: 1_700_000_400,
                                                topic: channel.topic, padding: [1], hash: [], thirdPartyID: "discord-\(type)")
            let (source, _) = try ArchiveInput.open(bytes: try archive([entry]))
            var reader = ArchiveReader(source: source)
            var unwrapper = ArchivedMessageUnwrapper(communityKey: community.communityKey.publicKey)
            _ = try reader.next()
            guard case .message(let archived)? = try reader.next(), case .message(let message) = unwrapper.unwrap(archived) else {
                Issue.record("type \(type) was not accepted")
                continue
            }
            #expect(message.id == "discord-\(type)")
            #expect(message.type == type)
            #expect(message.author == community.communityKey.publicKey)
        }
    }

    @Test func authorChecks() throws {
        let good = try chatEntry("fine")
        var badSignature = good
        var protocolMessage = try WireProtocolMessage(serializedBytes: good.payload)
        var amm = try WireApplicationMetadataMessage(serializedBytes: protocolMessage.publicMessage)
        var signature = Array(amm.signature)
        signature[64] = 7
        amm.signature = Data(signature)
        protocolMessage.publicMessage = try amm.serializedBytes()
        badSignature.payload = try protocolMessage.serializedBytes()

        var impostor = good
        impostor.sig = Data(community.members[1].key.publicKey.uncompressed)

        var tamperedText = good
        var chat = try WireChatMessage(serializedBytes: try WireApplicationMetadataMessage(
            serializedBytes: try WireProtocolMessage(serializedBytes: good.payload).publicMessage).payload)
        chat.text = "changed after signing"
        var tamperedAMM = try WireApplicationMetadataMessage(serializedBytes: try WireProtocolMessage(serializedBytes: good.payload).publicMessage)
        tamperedAMM.payload = try chat.serializedBytes()
        var tamperedProtocol = try WireProtocolMessage(serializedBytes: good.payload)
        tamperedProtocol.publicMessage = try tamperedAMM.serializedBytes()
        tamperedText.payload = try tamperedProtocol.serializedBytes()

        var badTopic = good
        badTopic.topic = Data([1, 2])

        let result = try decodeAll(try archive([good, badSignature, impostor, tamperedText, badTopic]))
        #expect(result.texts == ["fine"])
        #expect(result.rejected == [.invalidSignature, .signerMismatch, .signerMismatch, .invalidTopic])
    }

    @Test func encryptedMessagesAreReportedNotStored() throws {
        let encrypted = try MessageFactory.hashRatchetProtocolMessage(groupID: [1], keyID: [2], ciphertext: [3, 4, 5])
        let entry = MessageFactory.archived(payload: encrypted, sender: member.key.publicKey, timestamp: 1_700_000_500,
                                            topic: channel.topic, padding: [], hash: [])
        #expect(try decodeAll(try archive([entry, try chatEntry("clear")])).rejected == [.encryptedKeyUnavailable])
    }

    @Test func memoryStaysBoundedByOneMessage() throws {
        // A scanner with a 4 KiB buffer reads a 2 MiB archive: it never needs more than one message.
        let entries = try (0..<4000).map { try chatEntry("message \($0)") }
        let bytes = try archive(entries)
        var scanner = ProtobufScanner(source: MemoryByteSource(bytes), maxFieldBytes: 4096, bufferSize: 4096)
        var count = 0
        while let field = try scanner.nextField() {
            if field.number == 3 { count += 1 }
            _ = try scanner.readBytes()
        }
        #expect(count == 4000)
    }
}
