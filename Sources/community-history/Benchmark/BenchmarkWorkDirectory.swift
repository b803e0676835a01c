import Foundation

/// The directories a benchmark works in: its own subdirectories of `--work-dir` (or of a
/// temporary directory), never a file the user named.
enum BenchmarkWorkDirectory {
    /// An empty directory at `url`, replacing what an earlier run left there.
    static func fresh(_ url: URL) throws {
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Removes the benchmark's temporary directory; a failure is said on standard error (the
    /// figures are printed already).
    static func remove(_ url: URL) {
        do { try FileManager.default.removeItem(at: url) } catch {
            FileHandle.standardError.write(Data("cannot remove the benchmark's directory \(url.path): \(error)\n".utf8))
        }
    }
}
