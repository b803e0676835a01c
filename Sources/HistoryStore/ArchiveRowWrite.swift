import Foundation
import GRDB
import GRDBSQLite

/// Writes an archive's verified rows into `message_row`, under the import's pending archive
/// reference, inside the caller's transaction (`HistoryDatabase.apply`): one value per
/// transaction, which may write several chunks.
///
/// This is the one step of an import that cannot run in parallel (SQLite has one writer), so it
/// does as little per row as it can:
/// - rows go in `rowsPerStatement` at a time, as one `INSERT … SELECT … FROM (VALUES …)`: a
///   statement per row was slower even than the earlier copy through a scratch file (11.5-12.0 s
///   against 9.5 s for `benchmark run`'s 100,000 messages, one worker), because SQLite's
///   statement journal saves the pages each statement changes (the upsert and the foreign keys
///   make every statement one that may need undoing): the same index pages again for every row
///   (1.27 million `pwrite`s against 336,000);
/// - the statement is prepared once per connection and reused across chunks and archives (a
///   short last part binds NULLs, which it skips);
/// - the community, chats and topics the rows name are looked up once per transaction, not per row;
/// - values are bound through SQLite's C API, with no argument array and no value boxing.
struct ArchiveRowWrite {
    let db: Database
    let pending: Int64
    /// The archive's published reference, when a forced import rewrites an archive imported before.
    let published: Int64?
    let mode: HydrationMode
    /// The references looked up in this transaction, by table and name. Kept no longer: a
    /// purge between two transactions may remove a name.
    private var known: [String: [String: Int64]] = [:]

    init(db: Database, pending: Int64, published: Int64?, mode: HydrationMode) {
        self.db = db
        self.pending = pending
        self.published = published
        self.mode = mode
    }

    /// Rows bound into one statement: 11 values each, well under SQLite's 32,766 variables.
    static let rowsPerStatement = 500
    private static let valuesPerRow: Int32 = 11

    /// Writes `rows` in archive order: a new message as a hidden row; in replace mode, a local
    /// copy of it is overwritten with the archive's version and marked `replaced_local` (the
    /// view still shows it as the local copy it was); another archive's row is left as it is.
    /// Of two copies of one message in the archive, the later wins in replace mode (as in the
    /// archive), the first in merge mode, which changes nothing stored. Archive order is time
    /// order: the time-ordered indexes are then written page after page.
    ///
    /// Throws `DatabaseError` (disk full, a value too large for SQLite).
    mutating func write(_ rows: [StoredMessage]) throws {
        let communities = try references(in: "community_ref", for: Set(rows.map(\.communityID)))
        let chats = try references(in: "chat_ref", for: Set(rows.compactMap(\.chatID)))
        let topics = try references(in: "topic_ref", for: Set(rows.map(\.contentTopic)))
        let insert = try db.cachedStatement(sql: mode == .merge ? Self.mergeSQL : Self.replaceSQL)
        let statement = insert.sqliteStatement
        let binder = RawBinder(statement: statement, db: db, sql: "INSERT INTO main.message_row … (\(mode))")
        defer {
            sqlite3_reset(statement)
            // Drops the bound payloads and texts (SQLite keeps its own copies until then).
            sqlite3_clear_bindings(statement)
        }
        for start in stride(from: rows.startIndex, to: rows.endIndex, by: Self.rowsPerStatement) {
            sqlite3_reset(statement)
            // Every value NULL: the rows of a short part that are not bound are skipped.
            sqlite3_clear_bindings(statement)
            try binder.check(sqlite3_bind_int64(statement, 1, pending))
            try binder.check(published.map { sqlite3_bind_int64(statement, 2, $0) } ?? sqlite3_bind_null(statement, 2))
            for (offset, row) in rows[start..<min(start + Self.rowsPerStatement, rows.endIndex)].enumerated() {
                let first = 3 + Int32(offset) * Self.valuesPerRow
                try binder.check(sqlite3_bind_int64(statement, first, communities[row.communityID]!))
                try binder.check(binder.bind(row.id, at: first + 1))
                try binder.check(row.chatID.map { sqlite3_bind_int64(statement, first + 2, chats[$0]!) } ?? SQLITE_OK)
                try binder.check(sqlite3_bind_int64(statement, first + 3, topics[row.contentTopic]!))
                try binder.check(binder.bind(row.author, at: first + 4))
                try binder.check(sqlite3_bind_int64(statement, first + 5, Int64(row.type)))
                try binder.check(row.clock.map { sqlite3_bind_int64(statement, first + 6, Int64(bitPattern: $0)) } ?? SQLITE_OK)
                try binder.check(sqlite3_bind_int64(statement, first + 7, row.timestamp))
                try binder.check(binder.bind(row.payload, at: first + 8))
                try binder.check(binder.bind(row.text, at: first + 9))
                try binder.check(binder.bind(row.thirdPartyID, at: first + 10))
            }
            let code = sqlite3_step(statement)
            guard code == SQLITE_DONE else { throw binder.failure(code) }
        }
    }

    /// The reference of each value, named first where it is new (once per transaction).
    private mutating func references(in table: String, for values: Set<String>) throws -> [String: Int64] {
        var references = known[table, default: [:]]
        let new = values.filter { references[$0] == nil }
        if !new.isEmpty {
            let name = try db.cachedStatement(sql: "INSERT INTO main.\(table) (value) VALUES (?) ON CONFLICT DO NOTHING")
            let find = try db.cachedStatement(sql: "SELECT ref FROM main.\(table) WHERE value = ?")
            for value in new {
                try name.execute(arguments: [value])
                guard let reference = try Int64.fetchOne(find, arguments: [value]) else {
                    preconditionFailure("a name inserted in this transaction has a reference")
                }
                references[value] = reference
            }
            known[table] = references
        }
        return references
    }

    /// ?1 is the pending reference, ?2 the published one (NULL when there is none, which equals
    /// nothing), then 11 values a row. VALUES yields its rows in order, so the archive's order
    /// decides between two copies of one message. (The WHERE also keeps the parser from reading
    /// ON CONFLICT as a join's.)
    private static func sql(overwrite: String) -> String {
        let rows = (0..<rowsPerStatement).map { row in
            "(" + (0..<Int(valuesPerRow)).map { "?\(3 + row * Int(valuesPerRow) + $0)" }.joined(separator: ",") + ")"
        }
        return """
            INSERT INTO main.message_row (community_ref, id, chat_ref, topic_ref, author, type, clock, timestamp,
                                          payload, text, third_party_id, is_archived, archive_ref)
            SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9, column10, column11, 1, ?1
            FROM (VALUES \(rows.joined(separator: ",")))
            WHERE column2 IS NOT NULL
            ON CONFLICT(community_ref, id) DO UPDATE SET
                chat_ref = excluded.chat_ref, topic_ref = excluded.topic_ref, author = excluded.author,
                type = excluded.type, clock = excluded.clock, timestamp = excluded.timestamp, payload = excluded.payload,
                text = excluded.text, third_party_id = excluded.third_party_id, is_archived = 1,
                -- A forced import's rows keep the archive's published reference.
                archive_ref = CASE WHEN message_row.archive_ref = ?2 THEN ?2 ELSE ?1 END,
                replaced_local = CASE WHEN message_row.is_archived = 0 THEN 1 ELSE message_row.replaced_local END
            WHERE \(overwrite)
            """
    }

    /// Replace mode: which stored row the archive's version overwrites (this import's own
    /// earlier copy, a local copy, or, forced, the archive's published row).
    private static let replaceSQL = sql(overwrite: "message_row.archive_ref = ?1 OR message_row.is_archived = 0 OR message_row.archive_ref = ?2")
    /// Merge mode: none.
    private static let mergeSQL = sql(overwrite: "false")
}

/// Binds values straight into a prepared statement through SQLite's C API.
struct RawBinder {
    let statement: OpaquePointer
    let db: Database
    let sql: String

    /// Binds the text with its byte length, so a NUL inside it is stored too.
    func bind(_ text: String?, at index: Int32) -> Int32 {
        guard var text else { return sqlite3_bind_null(statement, index) }
        return text.withUTF8 { bytes in
            let base = bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? UnsafePointer(Self.empty)
            return sqlite3_bind_text(statement, index, base, Int32(bytes.count), Self.transient)
        }
    }

    func bind(_ blob: Data, at index: Int32) -> Int32 {
        blob.withUnsafeBytes { bytes in
            // A non-null pointer even for an empty blob: NULL would store NULL, not an empty blob.
            sqlite3_bind_blob(statement, index, bytes.baseAddress ?? UnsafeRawPointer(Self.empty), Int32(bytes.count), Self.transient)
        }
    }

    func check(_ code: Int32) throws {
        guard code == SQLITE_OK else { throw failure(code) }
    }

    func failure(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code),
                      message: db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }, sql: sql)
    }

    /// SQLITE_TRANSIENT (a macro Swift does not import): SQLite copies the bytes before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    /// Where an empty text or blob points (SQLite reads no byte of it; a null pointer would mean NULL).
    nonisolated(unsafe) private static let empty: UnsafeMutablePointer<CChar> = {
        let byte = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        byte.initialize(to: 0)
        return byte
    }()
}
