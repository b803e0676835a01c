import Foundation
import Testing
@testable import StatusWire

/// The Codex CID of an upload, against the vectors taken from the real projects (nim-codex,
/// go-codex-client, logos-storage-go-bindings) and the consistency values of the project's CID
/// notes (docs/real-network.md). The 2025 vectors are checked with the 2025 manifest layout.
@Suite struct CodexCIDTests {
    /// nim-codex `tests/integration/5_minutes/testupdownload.nim:9, 60-67`: the tree CID of an
    /// 18-byte upload (checks padding, the leaf hash, the odd-bottom key and the tree CID layout).
    @Test func treeCIDMatchesNimCodexIntegrationTest() throws {
        let address = try CID.codex(of: Array("some file contents".utf8), CodexUploadAttributes(filename: nil, mimetype: nil))
        #expect(address.treeCID.string == "zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL")
        #expect(address.datasetSize == 18)
        #expect(address.blockSize == 65_536)
        #expect(address.treeCID.codec == CodexCodec.datasetRoot)
    }

    /// go-codex-client `README.md:48-51`: the manifest CID a real node returned for
    /// `test-data.bin` uploaded as `application/octet-stream` (checks the whole manifest encoding).
    @Test func manifestCIDMatchesGoCodexClientUpload() throws {
        let address = try CID.codex(of: Array("Hello, Codex! This is test data for upload.".utf8),
                                    CodexUploadAttributes(filename: "test-data.bin", mimetype: "application/octet-stream"), layout: .codex2025)
        #expect(address.manifestCID.string == "zDvZRwzm8K7bcyPeBXcZzWD7AWc4VqNuseduDr3VsuYA1yXej49V")
        #expect(address.treeCID.string == "zDzSvJTf7oVZY3aDpDpc4kpH9ajQjiDHzse5rSdKVwcYtdSR83K2")
        #expect(address.manifestCID.isCodexManifest)
    }

    @Test func manifestBytesMatchTheReferenceEncoding() throws {
        let address = try CID.codex(of: Array("Hello, Codex! This is test data for upload.".utf8),
                                    CodexUploadAttributes(filename: "test-data.bin", mimetype: "application/octet-stream"))
        let bytes = CodexManifestLayout.codex2025.encode(treeCID: address.treeCID, blockSize: 65_536, datasetSize: 43,
                                                         filename: "test-data.bin", mimetype: "application/octet-stream")
        #expect(bytes.map { String(format: "%02x", $0) }.joined() == "0a5f0a2601839a0312206deab5547785c8ee0392034f6755bfbb763c499fde109028936261c9fc1e491510808004182b20829a0328123002420d746573742d646174612e62696e4a186170706c69636174696f6e2f6f637465742d73747265616d")
    }

    struct Consistency: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var attributes: CodexUploadAttributes
        var manifest: String
        var tree: String?
        var testDescription: String { name }
    }

    /// Computed by the reference note's independent implementation, not by a node: multi-block,
    /// exact-multiple and attribute-less cases the real vectors do not cover.
    @Test(arguments: [
        Consistency(name: "18 bytes, no filename or mimetype", bytes: Array("some file contents".utf8),
                    attributes: CodexUploadAttributes(filename: nil, mimetype: nil),
                    manifest: "zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy", tree: nil),
        Consistency(name: "18 bytes as status-go uploads", bytes: Array("some file contents".utf8), attributes: .statusArchive,
                    manifest: "zDvZRwzmCazxzzbYFeX5D89BHKwpGDfMDWfKzHGLahw6JiViLYjn", tree: nil),
        Consistency(name: "200,000 bytes: 4 blocks", bytes: [UInt8](repeating: 7, count: 200_000), attributes: .statusArchive,
                    manifest: "zDvZRwzm8QuUfATx5yzyAy2RjuizgtzjbRicUrDzVuzjCLFSkGHr",
                    tree: "zDzSvJTfDYmFybE6kvhPgye9uczjgf4fHZia2y7cYzkNy9nqHJAT"),
        Consistency(name: "exactly one block", bytes: [UInt8](repeating: 0, count: 65_536), attributes: .statusArchive,
                    manifest: "zDvZRwzmBuQWUHk9pXa7cKbutQoX2M9AzyLcuRgTpC6EzZBqim2R",
                    tree: "zDzSvJTf8RviqW9HL7ppHPywc6dQZFY1JWpcNc1ZWsPt3aQue7AP"),
    ])
    func consistencyValues(_ case_: Consistency) throws {
        let address = try CID.codex(of: case_.bytes, case_.attributes, layout: .codex2025)
        #expect(address.manifestCID.string == case_.manifest)
        if let tree = case_.tree { #expect(address.treeCID.string == tree) }
        #expect(address.datasetSize == Int64(case_.bytes.count))
    }

    /// Bytes fed in uneven pieces (as a download delivers them) give the same CID as all at once.
    @Test func streamingInPiecesGivesTheSameCID() throws {
        let bytes = (0..<300_001).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var hasher = CodexDatasetHasher()
        var offset = 0
        for piece in [1, 65_535, 2, 70_000, 100_000, 7] + [Int](repeating: 20_000, count: 4) {
            let end = min(bytes.count, offset + piece)
            hasher.update(bytes[offset..<end])
            offset = end
        }
        hasher.update(bytes[offset...])
        #expect(try hasher.finish(.statusArchive) == CID.codex(of: bytes))
    }

    @Test func filenameAndMimetypeChangeTheCID() throws {
        let bytes = Array("some file contents".utf8)
        let plain = try CID.codex(of: bytes, .statusArchive)
        let renamed = try CID.codex(of: bytes, CodexUploadAttributes(filename: "other.bin", mimetype: "application/octet-stream"))
        #expect(plain.manifestCID != renamed.manifestCID)
        #expect(plain.treeCID == renamed.treeCID)
    }

    // MARK: - Node generations (Logos Storage 2026)

    /// logos-storage-go-bindings `storage/upload_test.go:11`: "Hello World!" uploaded as
    /// `hello.txt` (`text/plain`). Before commit `6d70390` (2026-01-22) the test expected the
    /// 2025 CID; from it on ("Change the value of the CID because the manifest properties
    /// changed") the 2026-01 one. The tree is the same for both.
    static let helloWorld = Array("Hello World!".utf8)
    static let helloText = CodexUploadAttributes(filename: "hello.txt", mimetype: "text/plain")

    @Test func publishedHelloVectorsOfBothGenerations() throws {
        let address = try CID.codex(of: Self.helloWorld, Self.helloText)
        #expect(address.treeCID.string == "zDzSvJTf8JYwvysKPmG7BtzpbiAHfuwFMRphxm4hdvnMJ4XPJjKX")
        #expect(address.manifestCID(.codex2025).string == "zDvZRwzmAkhzDRPH5EW242gJBNZ2T7aoH2v1fVH66FxXL4kSbvyM")
        #expect(address.manifestCID(.storage2026January).string == "zDvZRwzm93r6pbHvCDtfXiLiLF96cXTiX5rkv1fWMLGfV1NJX8cr")
        // What a current node answers is the default.
        #expect(address.manifestCID == address.manifestCID(.storage2026January))
    }

    /// The tree is hashed once; the CID asked for tells which node generation wrote it.
    @Test func theLayoutIsFoundFromTheCIDAskedFor() throws {
        let address = try CID.codex(of: Self.helloWorld, Self.helloText)
        #expect(address.layout(matching: try CID("zDvZRwzmAkhzDRPH5EW242gJBNZ2T7aoH2v1fVH66FxXL4kSbvyM")) == .codex2025)
        #expect(address.layout(matching: try CID("zDvZRwzm93r6pbHvCDtfXiLiLF96cXTiX5rkv1fWMLGfV1NJX8cr")) == .storage2026January)
        #expect(address.layout(matching: address.manifestCID(.storageV0)) == .storageV0)
        // Other bytes: no layout.
        #expect(address.layout(matching: try CID.codex(of: Array("Hello World?".utf8), Self.helloText).manifestCID) == nil)
        #expect(Set(address.manifestCIDs.map(\.cid)).count == CodexManifestLayout.allCases.count)
    }

    /// The v0 layout of logos-storage-nim master (`storage/manifest/coders.nim`): DERIVED from the
    /// encoder's field list, not observed from a node (no published vector exists yet). The header
    /// starts with `manifestVersion` (field 1, varint 0, always written), and every 2026-01 field
    /// moves up by one: tree CID in 2, …, filename 8, mimetype 9.
    @Test func v0LayoutIsDerivedFromCodersNim() throws {
        let address = try CID.codex(of: Self.helloWorld, Self.helloText)
        let v0 = CodexManifestLayout.storageV0.encode(treeCID: address.treeCID, blockSize: 65_536, datasetSize: 12,
                                                      filename: "hello.txt", mimetype: "text/plain")
        let january = CodexManifestLayout.storage2026January.encode(treeCID: address.treeCID, blockSize: 65_536, datasetSize: 12,
                                                                    filename: "hello.txt", mimetype: "text/plain")
        let hex = v0.map { String(format: "%02x", $0) }.joined()
        // outer field 1 (len), header: 08 00 = field 1 varint 0; 12 26 = field 2, the 38-byte tree CID.
        #expect(hex.hasPrefix("0a") && hex.dropFirst(4).hasPrefix("0800122601"))
        // 18 80 80 04 = field 3 block size 65,536; 20 0c = field 4 size 12; 28 82 9a 03 = field 5 codec 0xcd02;
        // 30 12 = field 6 sha2-256; 38 02 = field 7 CIDv1's ordinal; 42 09 "hello.txt"; 4a 0a "text/plain".
        let tail: [String] = ["1880800420", "0c", "28829a03", "3012", "3802", "4209", "68656c6c6f2e747874", "4a0a", "746578742f706c61696e"]
        #expect(hex.hasSuffix(tail.joined()))
        // The same header as 2026-01 but for the version field and the numbers.
        #expect(v0.count == january.count + 2)
        #expect(address.manifestCID(.storageV0).string == "zDvZRwzmAvGXfZyfdvz1FMD89V4yDXLCPW8NcfQk3wSN55Z3AfYd")
    }

    @Test func emptyUploadHasNoCID() {
        #expect(throws: CodexDatasetError.empty) { try CID.codex(of: [UInt8]()) }
    }
}
