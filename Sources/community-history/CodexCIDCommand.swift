import ArgumentParser
import Foundation
import StatusWire

/// `codex-cid FILE`: the CID a Codex node answers for an upload of FILE, computed offline.
struct CodexCIDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codex-cid",
        abstract: "Print the manifest CID a Codex node returns for an upload of FILE.",
        discussion: """
            The file is cut into 64 KiB blocks (the last zero-padded), hashed into a SHA-256 Merkle \
            tree, and described by a manifest with the filename and mimetype; the CID is that \
            manifest's. Status uploads archives and indexes as archive-data.bin, \
            application/octet-stream (the defaults). An empty file is an error, as on a node.
            """
    )

    @Argument(help: "The file to address.")
    var file: String

    @Option(help: "The upload's filename (Content-Disposition); \"\" for none.")
    var filename: String = "archive-data.bin"

    @Option(help: "The upload's mimetype (Content-Type); \"\" for none.")
    var mimetype: String = "application/octet-stream"

    @Flag(help: "Print cid, treeCid and datasetSize as JSON.")
    var json = false

    func run() throws {
        let address: CodexDatasetAddress
        do {
            address = try CID.codex(ofFileAt: file, CodexUploadAttributes(filename: filename.isEmpty ? nil : filename,
                                                                          mimetype: mimetype.isEmpty ? nil : mimetype))
        } catch {
            printError("\(file): \(error)")
            throw Exit.badInput
        }
        if json {
            let object: [String: any Sendable] = ["cid": address.manifestCID.string, "treeCid": address.treeCID.string,
                                                  "datasetSize": address.datasetSize]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(address.manifestCID.string)
            print("treeCid \(address.treeCID.string)  datasetSize \(address.datasetSize)  blockSize \(address.blockSize)")
        }
    }
}
