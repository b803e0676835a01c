import ArchiveImport
import ControlNode
import Fixtures
import Foundation
import StatusWire

/// The demo community, for `demo`, `demo-network` and `replay` when no fixture is named, from
/// any working directory.
enum BundledFixture {
    static let relativePath = "Fixtures/demo-community"
    /// The encrypted community (`control-node generate-fixtures --encrypted --seed 3`), with its keys.
    static let encryptedRelativePath = "Fixtures/encrypted-community"

    /// Where the bundled community is: `Fixtures/demo-community` in the working directory, else
    /// in a directory above the binary (the repository it was built in: `.build/release/` is two
    /// levels down), else made again in `scratch` from its seed. The bundled fixture is
    /// `control-node generate-fixtures --seed 1` byte for byte (`FixtureReplayTests` checks
    /// it), so the copy made is the same community.
    ///
    /// `layout`: the storage node generation the community is to be published on. The bundled
    /// copies are in the current layout; for another, the same community is made again in
    /// `scratch` with its CIDs in that layout (as its control node would have published it there).
    static func locate(scratch: URL, encrypted: Bool = false, layout: CodexManifestLayout = .current) throws -> URL {
        let path = encrypted ? encryptedRelativePath : relativePath
        if let found = candidates(path).first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("manifest.json").path) }),
           try FixtureDirectory(url: found).layout == layout {
            return found
        }
        let made = scratch.appendingPathComponent("\(URL(fileURLWithPath: path).lastPathComponent)-\(layout)")
        if !FileManager.default.fileExists(atPath: made.appendingPathComponent("manifest.json").path) {
            if encrypted {
                _ = try EncryptedFixtureGenerator(configuration: .init(seed: 3, layout: layout)).write(to: made)
            } else {
                _ = try FixtureGenerator(configuration: .init(seed: 1, layout: layout)).write(to: made)
            }
        }
        return made
    }

    /// The working directory's copy, then one above the binary (up to five levels).
    static func candidates(_ relativePath: String = BundledFixture.relativePath) -> [URL] {
        var list = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(relativePath)]
        // The running binary, whatever the working directory and however it was started.
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        for _ in 0..<5 {
            list.append(directory.appendingPathComponent(relativePath))
            directory = directory.deletingLastPathComponent()
        }
        return list
    }
}

/// Removes a command's scratch directory. A failure is said on standard error, not hidden: the
/// files stay in the system's temporary directory.
func removeScratch(_ url: URL) {
    guard FileManager.default.fileExists(atPath: url.path) else { return }
    do { try FileManager.default.removeItem(at: url) } catch {
        FileHandle.standardError.write(Data("warning: cannot remove the scratch directory \(url.path): \(error)\n".utf8))
    }
}
