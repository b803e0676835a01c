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
}
