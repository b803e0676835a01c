import Foundation
import Testing
@testable import StatusWire

/// The Codex CID of an upload, against the two vectors taken from the real projects and the
/// consistency values of `../shared/reference/codex-cid.md` §5.
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
                                    CodexUploadAttributes(filename: "test-data.bin", mimetype: "application/octet-stream"))
        #expect(address.manifestCID.string == "zDvZRwzm8K7bcyPeBXcZzWD7AWc4VqNuseduDr3VsuYA1yXej49V")
        #expect(address.treeCID.string == "zDzSvJTf7oVZY3aDpDpc4kpH9ajQjiDHzse5rSdKVwcYtdSR83K2")
        #expect(address.manifestCID.isCodexManifest)
    }

    @Test func manifestBytesMatchTheReferenceEncoding() throws {
        let address = try CID.codex(of: Array("Hello, Codex! This is test data for upload.".utf8),
                                    CodexUploadAttributes(filename: "test-data.bin", mimetype: "application/octet-stream"))
        let bytes = CodexManifestEncoding.encode(treeCID: address.treeCID, blockSize: 65_536, datasetSize: 43,
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
        let address = try CID.codex(of: case_.bytes, case_.attributes)
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

    @Test func emptyUploadHasNoCID() {
        #expect(throws: CodexDatasetError.empty) { try CID.codex(of: [UInt8]()) }
    }
}
