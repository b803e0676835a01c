import Foundation
#if canImport(Glibc)
import Glibc
#endif
import StatusCrypto

/// A hash-ratchet group key: the key of an encrypted community (group = the community ID's
/// bytes) or channel (group = the UTF-8 bytes of its chat ID), as the chat client holds it.
/// `keyID` is derived as status-go derives it (`HashRatchet.keyID`). Its `description` never
/// shows the key's bytes, so a key printed or logged by mistake stays secret.
public struct GroupKey: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    public var groupID: [UInt8]
    public var timestampMillis: UInt64
    public var key: [UInt8]
    public var keyID: [UInt8] { HashRatchet.keyID(groupID: groupID, timestampMillis: timestampMillis, groupKey: key) }

    public init(groupID: [UInt8], timestampMillis: UInt64, key: [UInt8]) {
        self.groupID = groupID
        self.timestampMillis = timestampMillis
        self.key = key
    }

    public var description: String {
        "group key \(Hex.encode(keyID, prefixed: true)) (group \(Hex.encode(groupID, prefixed: true)), \(timestampMillis) ms)"
    }

    /// `dump` and debuggers show the key ID, not the key.
    public var customMirror: Mirror {
        Mirror(self, children: ["keyID": Hex.encode(keyID, prefixed: true), "groupID": Hex.encode(groupID, prefixed: true), "timestampMillis": timestampMillis])
    }
}

/// Why keys were not imported or the store not read. Nothing was written in every case.
public enum GroupKeyError: Error, Equatable, CustomStringConvertible {
    /// Line `line` of the import file is not a key (the reason says what is wrong).
    case badLine(line: Int, reason: String)
    /// The key ID given on `line` is not the one the key derives (the given text is not
    /// repeated: swapped columns would put the key itself there).
    case keyIDMismatch(line: Int, derived: String)
    case cannotRead(path: String, reason: String)
    /// The store has a line this program did not write (edited by hand, damaged).
    case damagedStore(path: String, line: Int)

    public var description: String {
        switch self {
        case .badLine(let line, let reason): return "line \(line): \(reason)"
        case .keyIDMismatch(let line, let derived):
            return "line \(line): the keyID given is not the key's ID (keccak256(groupID || timestamp || key) = \(derived)): wrong key, group or timestamp, or the columns swapped"
        case .cannotRead(let path, let reason): return "cannot read \(path): \(reason)"
        case .damagedStore(let path, let line): return "\(path) line \(line) is not a key this program wrote: move the file away and import the keys again"
        }
    }
}

/// The member's hash-ratchet keys, in a file apart from the history database that only the
/// user can read (0600): one JSON object per line, `{"groupID", "timestamp", "key"}` with hex
/// bytes and milliseconds. Key bytes are never logged, printed or sent in events.
///
/// ```swift
/// let store = GroupKeyStore(path: "history.sqlite.keys")
/// let result = try store.add(try GroupKeyStore.parseImport(data))   // (added: 2, known: 0)
/// for key in try store.load() { print(key) }                        // key IDs, never bytes
/// ```
public struct GroupKeyStore: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    struct Line: Codable {
        var groupID: String
        var timestamp: UInt64
        var key: String
        var keyID: String?
    }

    /// Reads an import file: JSON lines of `groupID` (hex), `timestamp` (ms), `key` (hex, 32
    /// bytes) and, optionally, `keyID` (hex), which must be the key's ID. Blank lines are
    /// skipped. Throws `GroupKeyError` for the first bad line: all lines or none.
    public static func parseImport(_ data: Data) throws -> [GroupKey] {
        var keys: [GroupKey] = []
        // Any line ending, "\r\n" included (a file written on Windows).
        for (index, text) in String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let number = index + 1
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let line: Line
            do { line = try JSONDecoder().decode(Line.self, from: Data(trimmed.utf8)) } catch {
                throw GroupKeyError.badLine(line: number, reason: "not {\"groupID\": hex, \"timestamp\": milliseconds, \"key\": hex (32 bytes), \"keyID\": hex (optional)}")
            }
            guard let groupID = try? Hex.decode(line.groupID), !groupID.isEmpty else {
                throw GroupKeyError.badLine(line: number, reason: "groupID is not hex bytes (a community ID, or the hex of a channel's UTF-8 chat ID)")
            }
            guard let bytes = try? Hex.decode(line.key), bytes.count == 32 else {
                throw GroupKeyError.badLine(line: number, reason: "key must be 32 bytes of hex")
            }
            let key = GroupKey(groupID: groupID, timestampMillis: line.timestamp, key: bytes)
            if let given = line.keyID {
                guard let givenBytes = try? Hex.decode(given), givenBytes == key.keyID else {
                    throw GroupKeyError.keyIDMismatch(line: number, derived: Hex.encode(key.keyID, prefixed: true))
                }
            }
            keys.append(key)
        }
        return keys
    }

    /// The stored keys, oldest import first; none when there is no store yet.
    public func load() throws -> [GroupKey] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        guard let data = FileManager.default.contents(atPath: path) else { throw GroupKeyError.cannotRead(path: path, reason: "unreadable") }
        do { return try Self.parseImport(data) } catch let error as GroupKeyError {
            if case .badLine(let line, _) = error { throw GroupKeyError.damagedStore(path: path, line: line) }
            if case .keyIDMismatch(let line, _) = error { throw GroupKeyError.damagedStore(path: path, line: line) }
            throw error
        }
    }

    /// Adds the keys not stored yet (by key ID) and rewrites the store whole (`PrivateFile`).
    /// Returns how many were added and how many were known. Throws `GroupKeyError` or
    /// `PrivateFile.WriteError` (the store is then as it was).
    @discardableResult
    public func add(_ keys: [GroupKey]) throws -> (added: Int, known: Int) {
        // One writer at a time (two `keys import` at once would each drop the other's keys).
        let lock = try StoreLock(path: path + ".lock")
        defer { lock.release() }
        var stored = try load()
        var ids = Set(stored.map(\.keyID))
        var added = 0
        for key in keys where ids.insert(key.keyID).inserted {
            stored.append(key)
            added += 1
        }
        guard added > 0 else { return (0, keys.count) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data()
        for key in stored {
            data += try encoder.encode(Line(groupID: Hex.encode(key.groupID, prefixed: true), timestamp: key.timestampMillis,
                                            key: Hex.encode(key.key, prefixed: true), keyID: Hex.encode(key.keyID, prefixed: true)))
            data += Data("\n".utf8)
        }
        try PrivateFile.write(data, to: path)
        return (added, keys.count - added)
    }
}

/// An exclusive `flock` on a file beside the store, held while the store is read and rewritten.
final class StoreLock {
    private let descriptor: Int32

    init(path: String) throws {
        descriptor = open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw PrivateFile.WriteError(path: path, errno: errno) }
        guard flock(descriptor, LOCK_EX) == 0 else {
            let code = errno
            close(descriptor)
            throw PrivateFile.WriteError(path: path, errno: code)
        }
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
