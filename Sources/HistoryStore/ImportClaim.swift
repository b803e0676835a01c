import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The file that says an import is running: its path names the import's hidden rows
/// (`archive_ref.pending_owner`), and its `flock(2)` lock says whether the import still runs.
///
/// Why a file: the sweeps must tell a running import, in this process or another, from one
/// that was killed. The sweep removes only files it can lock, so it never takes a running
/// import's file or rows, and always takes a killed one's (the kernel drops the lock with the
/// process). A PID would not do: in a container the agent is PID 1 on every start.
///
/// The file is empty. Files live in `<database>.staging/`, named `<pid>-<uuid>.claim`, and are
/// removed when the import ends, whatever the outcome; `removeAbandonedStagingFiles()` removes
/// those a killed process left. (Before issue 28 the import staged its rows in a scratch
/// database there, `<pid>-<uuid>.sqlite`, with the same lock: the sweep still removes those.)
final class ImportClaim {
    let path: String
    /// An open descriptor of the file, holding the lock while the import runs.
    private var lock: Int32

    /// Creates and locks the file. Throws `StagingFileError` when the directory or the file
    /// cannot be made (no descriptor left, disk full, no permission); nothing is left behind then.
    init(historyPath: String) throws {
        let directory = HistoryDatabase.stagingDirectory(historyPath: historyPath)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/\(getpid())-\(UUID().uuidString)" + Self.suffix
        // Created under a name (`.new`) the sweep takes only once it is a minute old (a crash
        // between create and rename), locked, and only then given its name: a sweep never sees
        // a young file unlocked. (Created under its name and locked after, a sweep running
        // between the two took it: issue 27, a start-up race.)
        let creating = path + Self.creatingSuffix
        lock = open(creating, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw StagingFileError(path: creating, operation: "create", errno: errno) }
        do {
            guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { throw StagingFileError(path: creating, operation: "lock", errno: errno) }
            guard rename(creating, path) == 0 else { throw StagingFileError(path: path, operation: "name", errno: errno) }
        } catch {
            // The file is this init's own and unusable; if it cannot be removed, the sweep will.
            unlink(path)
            unlink(creating)
            Glibc.close(lock)
            lock = -1
            throw error
        }
    }

    deinit {
        if lock >= 0 { Glibc.close(lock) }
    }

    /// The suffix of a claim file.
    static let suffix = ".claim"
    /// The suffixes of the files the sweep takes: claims, and the staging databases of earlier versions.
    static let sweptSuffixes = [suffix, ".sqlite"]
    /// The suffix of a file while it is being created and locked.
    static let creatingSuffix = ".new"
    /// How old a `.new` file must be before a sweep may take it (it is renamed within
    /// microseconds of its creation; one that old was left by a crash).
    static let creatingGrace: TimeInterval = 60

    /// Deletes the file, then lets its lock go. A file that cannot be deleted is one the next
    /// `removeAbandonedStagingFiles()` removes.
    func remove() throws {
        defer {
            Glibc.close(lock)
            lock = -1
        }
        try Self.deleteFiles(of: path)
    }

    /// The files SQLite kept beside an earlier version's staging database: its WAL and WAL
    /// index, and the rollback journal it used once, when the new file was switched to WAL mode.
    static let siblingSuffixes = ["-wal", "-shm", "-journal"]

    /// Deletes the file at `path` and its siblings, the file last: a sibling found without its
    /// file is then always one no import uses.
    static func deleteFiles(of path: String) throws {
        for suffix in siblingSuffixes where FileManager.default.fileExists(atPath: path + suffix) {
            try FileManager.default.removeItem(atPath: path + suffix)
        }
        try FileManager.default.removeItem(atPath: path)
    }

    /// Whether an import holds the claim file at `path` (it may be in this process): false
    /// once the file is gone or its import has ended, however it ended.
    static func isHeld(path: String) -> Bool {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        // Only a file that is gone has no import; one that cannot be opened (no descriptor
        // left, no permission) may well have one, and its rows must not be taken.
        guard descriptor >= 0 else { return errno != ENOENT }
        defer { Glibc.close(descriptor) }
        // A lock is taken per open file, so this one conflicts with the import's own, even here.
        return flock(descriptor, LOCK_EX | LOCK_NB) != 0
    }
}

extension HistoryDatabase {
    /// Where imports keep their claim files (the directory's name is from when it held staging databases).
    static func stagingDirectory(historyPath: String) -> String { historyPath + ".staging" }

    /// Removes the claim files (`<database>.staging/…`) that no import holds: what an import
    /// killed mid-way leaves. A running import's file is locked (`flock(2)`) and left alone, in
    /// this process or another, so calling this while imports run is safe. Once a process
    /// has swept, nothing it leaves is abandoned until it ends: `removeAbandonedStagingFilesOnce`
    /// is what a process calls at start.
    ///
    /// ```swift
    /// database.removeAbandonedStagingFiles()   // at start, before importing
    /// ```
    ///
    /// Never throws: each removal, and each file that cannot be removed, is logged and listed in
    /// the result (a file left is only disk space, and the next call tries again).
    @discardableResult
    public func removeAbandonedStagingFiles() -> StagingSweep {
        let directory = Self.stagingDirectory(historyPath: path)
        var sweep = StagingSweep()
        guard FileManager.default.fileExists(atPath: directory) else { return sweep }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            sweep.failures.append((directory, error))
            return sweep
        }
        // A file's WAL and journal go with it (`<file>-wal`, `-shm`, `-journal`). Without their
        // file they are left from an import killed after this sweep took its file, or while
        // SQLite was creating them: no import uses them, as an import's file goes last.
        for name in names {
            guard let suffix = ImportClaim.siblingSuffixes.first(where: { name.hasSuffix(".sqlite" + $0) }) else { continue }
            let file = directory + "/" + name
            guard !FileManager.default.fileExists(atPath: String(file.dropLast(suffix.count))) else { continue }
            do {
                try FileManager.default.removeItem(atPath: file)
                sweep.removed.append(file)
            } catch {
                sweep.failures.append((file, error))
            }
        }
        let swept = ImportClaim.sweptSuffixes.flatMap { [$0, $0 + ImportClaim.creatingSuffix] }
        for name in names where swept.contains(where: { name.hasSuffix($0) }) {
            let file = directory + "/" + name
            // One being made may not be locked yet: left alone until a crash is certain.
            if name.hasSuffix(ImportClaim.creatingSuffix), !Self.isOlder(file, than: ImportClaim.creatingGrace) { continue }
            let descriptor = open(file, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { continue }  // gone since the listing
            defer { close(descriptor) }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { continue }  // an import is using it
            do {
                try ImportClaim.deleteFiles(of: file)
                sweep.removed.append(file)
                logger.info("removed the claim file of a killed import", metadata: ["path": "\(file)"])
            } catch {
                sweep.failures.append((file, error))
            }
        }
        for (file, error) in sweep.failures {
            logger.warning("cannot remove the claim file of a killed import", metadata: ["path": "\(file)", "error": "\(error)"])
        }
        return sweep
    }
}

extension HistoryDatabase {
    /// Whether the file at `path` was last modified more than `age` ago (false when it cannot be read).
    static func isOlder(_ path: String, than age: TimeInterval) -> Bool {
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return false }
        return Date().timeIntervalSince(modified) > age
    }
}

/// Staging directories this process has swept (`removeAbandonedStagingFilesOnce`). The lock is
/// held through the sweep, so a second caller waits until it is over: no import of this process
/// starts while the sweep runs.
private let sweptThisProcess = Mutex<Set<String>>([])

extension HistoryDatabase {
    /// The sweep, once per process and database, before any import of this process: every
    /// community's driver calls it at its start, and only the first sweeps (the others wait
    /// for it). Returns nil when this process swept before.
    @discardableResult
    public func removeAbandonedStagingFilesOnce() -> StagingSweep? {
        sweptThisProcess.withLock { swept in
            let directory = Self.stagingDirectory(historyPath: path)
            guard swept.insert(directory).inserted else { return nil }
            return removeAbandonedStagingFiles()
        }
    }
}

/// An import's claim file could not be made (`errno` says why: EMFILE, ENFILE, ENOSPC, EACCES, EROFS,
/// …): a failure of this machine, never of an archive.
public struct StagingFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let operation: String
    public let errno: Int32

    public init(path: String, operation: String, errno: Int32) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        "cannot \(operation) the import claim file \(path): \(String(cString: strerror(errno)))"
    }
}

/// What `removeAbandonedStagingFiles()` did.
public struct StagingSweep {
    public var removed: [String] = []
    public var failures: [(path: String, error: any Error)] = []
}
