import Foundation
import GRDB
import Testing
@testable import HistoryStore

/// A database failure is told apart by SQLite's own result code, from real SQLite errors: the
/// user is told whether the database was busy, full, read-only or damaged, and what fixes it.
@Suite struct DatabaseFailureTests {
    func scratch() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dbfailure-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// The error SQLite gives for `work`, classified.
    func failure(_ work: () throws -> Void) -> DatabaseFailure? {
        do { try work() } catch { return DatabaseFailure(error) }
        Issue.record("expected an error")
        return nil
    }

    @Test func aFullDatabaseIsFull() throws {
        let queue = try DatabaseQueue(path: try scratch().appendingPathComponent("full.sqlite").path)
        let found = failure {
            try queue.write { db in
                try db.execute(sql: "CREATE TABLE t (x BLOB)")
                try db.execute(sql: "PRAGMA max_page_count = 4")
                for _ in 0..<16 { try db.execute(sql: "INSERT INTO t VALUES (zeroblob(4096))") }
            }
        }
        #expect(found == .full)
        #expect(found?.fix.contains("free disk space") == true)
    }

    @Test func aReadOnlyDatabaseIsReadOnly() throws {
        let path = try scratch().appendingPathComponent("ro.sqlite").path
        try DatabaseQueue(path: path).write { try $0.execute(sql: "CREATE TABLE t (x)") }
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        #expect(failure { try queue.write { try $0.execute(sql: "INSERT INTO t VALUES (1)") } } == .readOnly)
    }

    @Test func aFileThatIsNotADatabaseIsCorrupt() throws {
        let path = try scratch().appendingPathComponent("garbage.sqlite").path
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect(failure { _ = try DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") } } == .corrupt)
    }

    @Test func aLockedDatabaseIsBusy() throws {
        let path = try scratch().appendingPathComponent("busy.sqlite").path
        var holding = Configuration()
        holding.allowsUnsafeTransactions = true
        let client = try DatabaseQueue(path: path, configuration: holding)
        try client.inDatabase { try $0.execute(sql: "CREATE TABLE t (x); BEGIN IMMEDIATE") }
        let other = try DatabaseQueue(path: path)
        #expect(failure { try other.write { try $0.execute(sql: "INSERT INTO t VALUES (1)") } } == .busy)
        try client.inDatabase { try $0.execute(sql: "ROLLBACK") }
    }

    @Test func anErrorOfAnotherKindIsNoDatabaseFailure() {
        #expect(DatabaseFailure(CocoaError(.fileNoSuchFile)) == nil)
        #expect(DatabaseFailure(POSIXError(.ENOSPC)) == nil, "a full disk under the archives is the download's, not the database's")
        #expect(DatabaseFailure(HistoryStoreError.pendingRowsTaken(archiveID: "0x1")) == .other)
    }
}
