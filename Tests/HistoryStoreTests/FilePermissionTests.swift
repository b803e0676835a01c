import Foundation
import GRDB
import Testing
@testable import HistoryStore

/// Issue 27: with an explicit database path and a umask of 022 the database and its WAL and
/// shared-memory files were 0644, readable by every local user, and they hold the decrypted
/// messages of encrypted channels.
@Suite struct FilePermissionTests {
    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func theDatabaseAndItsWALAreReadableByTheirOwnerOnly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("perm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("history.sqlite").path
        let previous = umask(0o022)
        defer { umask(previous) }
        let database = try HistoryDatabase(path: path)
        try database.pool.write { try $0.execute(sql: "CREATE TABLE IF NOT EXISTS probe (x)") }
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(try mode(file) == 0o600, "\(file)")
        }
    }

    /// An existing database keeps the mode its owner gave it.
    @Test func anExistingDatabaseKeepsItsMode() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("perm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("history.sqlite").path
        _ = try HistoryDatabase(path: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        _ = try HistoryDatabase(path: path)
        #expect(try mode(path) == 0o640)
    }
}
