import Foundation
import Logging
import StatusWire

/// Removes what an interrupted run left in an archives directory: partial downloads
/// (`.<cid>.partial`), index files (`index-<cid>`), and archive files no download record
/// points at (the process died between an import's commit and the file's removal). Only
/// names the driver writes are touched; anything else in the directory is left alone.
///
/// ```swift
/// ArchivesDirectorySweep(directory: archives, logger: logger).run(keeping: resume.allDownloadPaths)
/// ```
struct ArchivesDirectorySweep {
    var directory: URL
    var logger: Logger

    /// Runs once at start, before any download of this driver begins. Failures are logged: a
    /// file that stays is only disk space, and the next start tries again.
    func run(keeping referenced: Set<String>) {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            logger.warning("cannot list the archives directory", metadata: ["path": "\(directory.path)", "error": "\(error)"])
            return
        }
        // Compared by name within this directory, resolved: a directory spelled differently
        // from one run to the next (relative, through a symlink) must not lose a pending file.
        // Only the references whose name is one of this directory's files are resolved (each
        // resolution is a few system calls, and `referenced` holds every community's downloads:
        // resolving them all, at each community's start, grew with the square of their number).
        let here = directory.resolvingSymlinksInPath().standardizedFileURL.path
        let driverFiles = Set(names.filter(Self.isDriverFile))
        let kept = Set(referenced.compactMap { path -> String? in
            // The name by plain string work first: a URL made from a path stats the file, and
            // only a name this directory holds is worth one.
            let name = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
            guard driverFiles.contains(name) else { return nil }
            let file = URL(fileURLWithPath: path, isDirectory: false)
            return file.deletingLastPathComponent().resolvingSymlinksInPath().standardizedFileURL.path == here ? name : nil
        })
        for name in driverFiles.sorted() where !kept.contains(name) {
            let path = directory.appendingPathComponent(name).path
            do {
                try FileManager.default.removeItem(atPath: path)
                logger.info("removed a leftover of an interrupted run", metadata: ["path": "\(path)"])
            } catch {
                logger.warning("cannot remove a leftover file", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
    }

    /// The names the driver and the Codex client create: `<cid>`, `index-<cid>`, `.<cid>.partial`.
    static func isDriverFile(_ name: String) -> Bool {
        var stem = Substring(name)
        if stem.hasPrefix("."), stem.hasSuffix(".partial") { stem = stem.dropFirst().dropLast(".partial".count) }
        if stem.hasPrefix("index-") { stem = stem.dropFirst("index-".count) }
        return (try? CID(String(stem))) != nil
    }
}
