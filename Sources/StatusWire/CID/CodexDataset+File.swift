import Foundation

extension CID {
    /// The Codex address of the file at `path` uploaded with `attributes`, read 1 MiB at a time
    /// (memory stays flat whatever the size). Throws when the file cannot be read, and
    /// `CodexDatasetError.empty` for an empty file.
    ///
    /// ```swift
    /// let address = try CID.codex(ofFileAt: "blobs/zDvZ…")
    /// address.manifestCID.string == "zDvZ…"
    /// ```
    public static func codex(ofFileAt path: String, _ attributes: CodexUploadAttributes = .statusArchive,
                             layout: CodexManifestLayout = .current) throws -> CodexDatasetAddress {
        let file = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? file.close() }
        var hasher = CodexDatasetHasher()
        while let chunk = try file.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
        return try hasher.finish(attributes, layout: layout)
    }
}
