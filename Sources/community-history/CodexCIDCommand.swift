import ArgumentParser
import Foundation
import StatusWire

extension CodexManifestLayout: ExpressibleByArgument {}

/// `codex-cid FILE`: the CID a storage node (Logos Storage, formerly Codex) answers for an
/// upload of FILE, computed offline.
struct CodexCIDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codex-cid",
        abstract: "Print the manifest CID a storage node (Logos Storage, formerly Codex) returns for an upload of FILE.",
        discussion: """
            The file is cut into 64 KiB blocks (the last zero-padded), hashed into a SHA-256 Merkle \
            tree, and described by a manifest with the filename and mimetype; the CID is that \
            manifest's. Status uploads archives and indexes as archive-data.bin, \
            application/octet-stream (the defaults). An empty file is an error, as on a node.

            The manifest's layout, and so the CID, depends on the node's generation: 2025 (Codex), \
            2026-01 (Logos Storage as released, the default) or v0 (Logos Storage master). The tree \
            is the same in all of them. --json lists the CID of every layout.
            """
    )

    @Argument(help: "The file to address.")
    var file: String

    @Option(help: "The upload's filename (Content-Disposition); \"\" for none.")
    var filename: String = "archive-data.bin"

    @Option(help: "The upload's mimetype (Content-Type); \"\" for none.")
    var mimetype: String = "application/octet-stream"

    @Option(help: "The node generation's manifest layout: \(CodexManifestLayout.allValueStrings.joined(separator: ", ")).")
    var layout: CodexManifestLayout = .current

    @Flag(help: "Print cid (in --layout), layout, cids (every layout), treeCid and datasetSize as JSON.")
    var json = false

    func run() throws {
        let address: CodexDatasetAddress
        do {
            address = try CID.codex(ofFileAt: file, CodexUploadAttributes(filename: filename.isEmpty ? nil : filename,
                                                                          mimetype: mimetype.isEmpty ? nil : mimetype),
                                    layout: layout)
        } catch {
            printError("\(file): \(error)")
            throw Exit.badInput
        }
        if json {
            let cids = Dictionary(uniqueKeysWithValues: address.manifestCIDs.map { ($0.layout.rawValue, $0.cid.string) })
            let object: [String: any Sendable] = ["cid": address.manifestCID.string, "layout": layout.rawValue, "cids": cids,
                                                  "treeCid": address.treeCID.string, "datasetSize": address.datasetSize]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(address.manifestCID.string)
            print("layout \(layout)  treeCid \(address.treeCID.string)  datasetSize \(address.datasetSize)  blockSize \(address.blockSize)")
        }
    }
}
