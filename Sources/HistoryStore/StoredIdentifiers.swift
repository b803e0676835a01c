import Foundation
import GRDB
import StatusCrypto
import StatusWire

// The wire's identifiers are stored as their canonical text and read back typed, by GRDB's
// value conversion: `try row.decode(ArchiveID.self, forColumn: "id")` throws a
// `RowDecodingError` for a value that does not parse, which the reader reports (see
// `UnreadableRecord`), never a guessed value. The store knows these identifiers, not the wire's
// codecs.

extension ArchiveID: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { string.databaseValue }

    public static func fromDatabaseValue(_ dbValue: DatabaseValue) -> ArchiveID? {
        String.fromDatabaseValue(dbValue).flatMap { try? ArchiveID($0) }
    }
}

extension CID: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { string.databaseValue }

    public static func fromDatabaseValue(_ dbValue: DatabaseValue) -> CID? {
        String.fromDatabaseValue(dbValue).flatMap { try? CID($0) }
    }
}

/// An archive's content topics as one column: a JSON array of `0x` + 8 hex digits.
struct StoredContentTopics: DatabaseValueConvertible {
    var topics: [ContentTopic]

    var databaseValue: DatabaseValue {
        ("[" + topics.map { "\"\(Hex.encode($0.bytes, prefixed: true))\"" }.joined(separator: ",") + "]").databaseValue
    }

    static func fromDatabaseValue(_ dbValue: DatabaseValue) -> StoredContentTopics? {
        guard let text = String.fromDatabaseValue(dbValue) else { return nil }
        return (try? JSONDecoder().decode([ContentTopic].self, from: Data(text.utf8))).map(StoredContentTopics.init)
    }
}

/// A stored row that does not read back as the typed value it was written from (a damaged
/// database, a hand edit): reported by whoever reads it, never guessed at.
public struct UnreadableRecord: Sendable, Equatable, CustomStringConvertible {
    public enum Table: String, Sendable, Equatable {
        case downloadedArchive = "downloaded_archive"
        case importedArchive = "imported_archive"
        case archiveFailure = "archive_failure"
        case communityIndexState = "community_index_state"
    }

    /// The table, and the row's key as stored.
    public var table: Table
    public var key: String
    /// What did not read.
    public var error: String

    public var description: String { "\(table.rawValue) row \(key): \(error)" }

    /// A row's `id` as stored, whatever its type (a damaged row may hold a number or NULL there).
    static func key(_ row: Row) -> String {
        let value = row["id"] as DatabaseValue
        return String.fromDatabaseValue(value) ?? value.description
    }
}
