import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A file only its owner can read (mode 0600), written whole: the bytes go to a new temporary
/// file beside it, created 0600 before a byte is written and never through a file or symlink
/// left at that name, synced, then renamed over the old one. A reader sees the old file or the
/// new one, never a part. Used for the hash-ratchet key store and the API's cookie file.
public enum PrivateFile {
    public struct WriteError: Error, CustomStringConvertible, Equatable {
        public let path: String
        public let errno: Int32
        public var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
    }

    /// Replaces `path` with `data`. Throws `WriteError`; the old file is untouched then.
    public static func write(_ data: Data, to path: String) throws {
        // A name of its own: two writers never share (or remove) each other's temporary file.
        let temporary = path + ".\(getpid())-\(UInt64.random(in: 0 ... .max)).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw WriteError(path: temporary, errno: errno) }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            // 0600 whatever the umask, before any byte is written.
            guard fchmod(descriptor, 0o600) == 0 else { throw WriteError(path: temporary, errno: errno) }
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            unlink(temporary)
            throw (error as? WriteError) ?? WriteError(path: temporary, errno: EIO)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw WriteError(path: path, errno: code)
        }
    }
}
