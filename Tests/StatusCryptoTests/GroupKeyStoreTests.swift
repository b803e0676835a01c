import Foundation
import GroupKeys
import StatusCrypto
import Testing

/// The key store of encrypted communities (issue 12, "Keys in").
@Suite struct GroupKeyStoreTests {
    /// §6.6 of status-wire.md: K = 00…01, group = the community ID's bytes, ts = 1700000000000.
    static let communityID = "0x024e3b81af9c2234cad09d679ce6035ed1392347ce64ce405f5dcd36228a25de6e"
    static let vectorKey = [UInt8](repeating: 0, count: 31) + [1]

    func temporaryPath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("history.sqlite.keys").path
    }

    @Test func importingChecksTheKeyIDAndStoresEachKeyOnceInAFileOnlyTheUserReads() throws {
        let path = try temporaryPath()
        let store = GroupKeyStore(path: path)
        let key = Hex.encode(Self.vectorKey, prefixed: true)
        let group = Hex.encode([0x01, 0x02], prefixed: true)
        let derived = Hex.encode(HashRatchet.keyID(groupID: [1, 2], timestampMillis: 1_700_000_000_000, groupKey: Self.vectorKey), prefixed: true)
        let file = """
            {"groupID":"\(group)","timestamp":1700000000000,"key":"\(key)","keyID":"\(derived)"}

            {"groupID":"\(group)","timestamp":1700000000001,"key":"\(key)"}
            """
        let keys = try GroupKeyStore.parseImport(Data(file.utf8))
        #expect(keys.count == 2)
        #expect(try store.add(keys) == (2, 0))
        #expect(try store.add(keys) == (0, 2))
        #expect(try store.load() == keys)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // Printing a key says its ID, never its bytes.
        #expect(!"\(keys[0])".contains(String(key.dropFirst(2))) && "\(keys[0])".contains(derived))
    }

    @Test func aWrongKeyIDOrABadLineImportsNothingAndSaysWhichLine() throws {
        let store = GroupKeyStore(path: try temporaryPath())
        let key = Hex.encode(Self.vectorKey, prefixed: true)
        let wrongID = """
            {"groupID":"0x01","timestamp":1,"key":"\(key)"}
            {"groupID":"0x01","timestamp":2,"key":"\(key)","keyID":"0x25f8a1551dac425d8da740055e330dc408fc383c8efc0c1e5fe3d5fa88734be0"}
            """
        #expect { try GroupKeyStore.parseImport(Data(wrongID.utf8)) } throws: {
            guard case GroupKeyError.keyIDMismatch(let line, _) = $0 else { return false }
            // The text given is not repeated: with the columns swapped it would be the key.
            return line == 2 && !"\($0)".contains("25f8a1551dac")
        }
        #expect { try GroupKeyStore.parseImport(Data(#"{"groupID":"0x01","timestamp":1,"key":"0x0102"}"#.utf8)) } throws: {
            "\($0)".contains("line 1: key must be 32 bytes")
        }
        #expect(try store.load().isEmpty)
    }

    @Test func aFileWithWindowsLineEndingsReadsLineByLine() throws {
        let key = Hex.encode(Self.vectorKey, prefixed: true)
        let file = "{\"groupID\":\"0x01\",\"timestamp\":1,\"key\":\"\(key)\"}\r\n{\"groupID\":\"0x01\",\"timestamp\":2,\"key\":\"\(key)\"}\r\n"
        #expect(try GroupKeyStore.parseImport(Data(file.utf8)).map(\.timestampMillis) == [1, 2])
        #expect { try GroupKeyStore.parseImport(Data("\(file)bad\r\n".utf8)) } throws: { "\($0)".hasPrefix("line 3:") }
    }

    @Test func theDerivedKeyIDIsStatusGosForTheReferenceVector() throws {
        let communityBytes = try Hex.decode(Self.communityID)
        // A key imported for this community gets the key ID the vectors give (vectors.json, hash ratchet).
        let file = #"{"groupID":"\#(Self.communityID)","timestamp":1700000000000,"key":"\#(Hex.encode(Self.vectorKey, prefixed: true))"}"#
        let key = try #require(try GroupKeyStore.parseImport(Data(file.utf8)).first)
        #expect(key.groupID == communityBytes)
        #expect(Hex.encode(key.keyID) == "25f8a1551dac425d8da740055e330dc408fc383c8efc0c1e5fe3d5fa88734be0")
    }
}
