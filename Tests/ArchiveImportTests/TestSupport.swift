import Foundation
import HistoryStore

enum TestSupport {
    /// The repository root, found from this file's path.
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let bundledFixture = repositoryRoot.appendingPathComponent("Fixtures/demo-community")
    static let encryptedFixture = repositoryRoot.appendingPathComponent("Fixtures/encrypted-community")

    static func temporaryDirectory(_ name: String = "test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func temporaryDatabase() throws -> HistoryDatabase {
        try HistoryDatabase(path: temporaryDirectory("db").appendingPathComponent("history.sqlite").path)
    }

    /// Runs test work that blocks on a thread of its own, not on one of the test runner's (a
    /// 2-core machine has two) nor Dispatch's (as few): blocking those starved the time-limited
    /// tests running beside it.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }
}
