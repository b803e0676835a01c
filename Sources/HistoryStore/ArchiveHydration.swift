import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// How an archive's messages meet what is already stored.
public enum HydrationMode: String, Sendable, Codable, CaseIterable {
    /// The spec's canonical history: archive messages replace local copies with the same
    /// ID, and local copies in the archive's time range and topics that the archive does
    /// not contain are removed.
    case replace
    /// status-go's behaviour: add what is missing, change and delete nothing.
    case merge
}

/// What the store needs to know of an archive before decoding it.
public struct ArchiveRecord: Sendable, Hashable {
    public var id: String
    public var communityID: String
    public var cid: String

    public init(id: String, communityID: String, cid: String) {
        self.id = id
        self.communityID = communityID
        self.cid = cid
    }
}

/// What decoding found, handed back by the hydration body at the end.
public struct ArchiveContentSummary: Sendable {
    /// Unix seconds, `[from, to)`.
    public var from: UInt64
    public var to: UInt64
    /// `/waku/1/0x…/rfc26` strings.
    public var contentTopics: [String]
    /// Archived entries read, stored or not.
    public var entryCount: Int
    /// Messages not stored, by reason.
    public var rejections: [String: Int]
    /// Encrypted messages whose key the member does not hold: kept, raw, with the archive (in
    /// the transaction that publishes it) until the key comes (`HeldMessages`).
    public var held: [HeldMessage]

    public init(from: UInt64, to: UInt64, contentTopics: [String], entryCount: Int, rejections: [String: Int], held: [HeldMessage] = []) {
        self.from = from
        self.to = to
        self.contentTopics = contentTopics
        self.entryCount = entryCount
        self.rejections = rejections
        self.held = held
    }
}

/// What one archive's hydration changed.
public struct HydrationCounts: Sendable, Equatable, Codable {
    /// New messages.
    public var stored = 0
    /// Local copies overwritten by the archive's version.
    public var replaced = 0
    /// Already stored from an archive (or, in merge mode, already stored at all).
    public var unchanged = 0
    /// Local copies in the archive's range that the archive does not contain.
    public var removed = 0

    public init(stored: Int = 0, replaced: Int = 0, unchanged: Int = 0, removed: Int = 0) {
        self.stored = stored
        self.replaced = replaced
        self.unchanged = unchanged
        self.removed = removed
    }

    public static func += (lhs: inout HydrationCounts, rhs: HydrationCounts) {
        lhs.stored += rhs.stored
        lhs.replaced += rhs.replaced
        lhs.unchanged += rhs.unchanged
        lhs.removed += rhs.removed
    }
}

/// Writes one archive's messages to its staging table (`ArchiveStaging`). Only valid inside the
/// `hydrate` body that handed it out. Nothing is decided here: which rows are new, replace a
/// local copy or belong to another archive is settled when the staged rows are applied.
///
/// This runs once per archived message on the thread that reads the archive, which the
/// verification workers wait for, so it binds straight into the prepared statement through
/// SQLite's C API: no argument array, no value boxing (`StatementArguments` cost a few
/// microseconds a message, on the one thread that cannot be parallel).
public final class ArchiveHydrationWriter {
    private let db: Database
    private let insert: Statement
    private let connection: SQLiteConnection?
    private let commitEvery: Int64
    private let progress: StagingProgress
    /// Messages staged so far (each one's `seq`).
    private(set) var written: Int64 = 0

    /// Every this many messages the writer checks whether the import was asked to stop (its
    /// task cancelled), and throws `CancellationError` then.
    static let cancellationCheckInterval: Int64 = 256

    init(db: Database, commitEvery: Int64, progress: StagingProgress) throws {
        self.db = db
        self.commitEvery = commitEvery
        self.progress = progress
        insert = try db.makeStatement(sql: """
            INSERT INTO staged_message (id, community_id, chat_id, content_topic, author, type, clock, timestamp,
                                        payload, text, third_party_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        connection = db.sqliteConnection
    }

    /// Stages one archive message (its `source` and `archiveID` are set when it is applied).
    /// Throws `DatabaseError` (disk full, a value too large for SQLite), or `CancellationError`
    /// when the import was asked to stop.
    public func write(_ message: StoredMessage) throws {
        if (written + 1) % Self.cancellationCheckInterval == 0 && progress.isStopped { throw CancellationError() }
        let statement = insert.sqliteStatement
        sqlite3_reset(statement)
        try check(bind(message.id, at: 1))
        try check(bind(message.communityID, at: 2))
        try check(bind(message.chatID, at: 3))
        try check(bind(message.contentTopic, at: 4))
        try check(bind(message.author, at: 5))
        try check(sqlite3_bind_int64(statement, 6, Int64(message.type)))
        try check(message.clock.map { sqlite3_bind_int64(statement, 7, Int64(bitPattern: $0)) } ?? sqlite3_bind_null(statement, 7))
        try check(sqlite3_bind_int64(statement, 8, message.timestamp))
        try check(message.payload.withUnsafeBytes { bytes in
            // A non-null pointer even for an empty payload: NULL would store NULL, not an empty blob.
            sqlite3_bind_blob(statement, 9, bytes.baseAddress ?? UnsafeRawPointer(Self.empty), Int32(bytes.count), Self.transient)
        })
        try check(bind(message.text, at: 10))
        try check(bind(message.thirdPartyID, at: 11))
        let code = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard code == SQLITE_DONE else { throw failure(code) }
        written += 1
        if written % commitEvery == 0 {
            // A chunk the apply step may copy now, while the next is verified.
            try db.commit()
            progress.committed(through: written)
            try db.beginTransaction()
        }
    }

    /// Binds the text with its byte length, so a NUL inside it is stored too.
    private func bind(_ text: String?, at index: Int32) -> Int32 {
        guard var text else { return sqlite3_bind_null(insert.sqliteStatement, index) }
        return text.withUTF8 { bytes in
            let base = bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? UnsafePointer(Self.empty)
            return sqlite3_bind_text(insert.sqliteStatement, index, base, Int32(bytes.count), Self.transient)
        }
    }

    private func check(_ code: Int32) throws {
        guard code == SQLITE_OK else { throw failure(code) }
    }

    private func failure(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code),
                      message: connection.map { String(cString: sqlite3_errmsg($0)) }, sql: insert.sql)
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

extension HistoryDatabase {
    /// Imports one archive: `body` decodes the archive and writes its messages, which are
    /// staged outside the history database (no lock held, however long decoding takes), and
    /// applied a chunk behind, in short transactions, as hidden rows; one last short
    /// transaction publishes them: each message is inserted, or overwrites the local copy with
    /// the same ID; in replace mode, local copies in `[from, to)` on the archive's topics that
    /// the archive did not contain are deleted; the archive is recorded as imported. Readers
    /// see all of it or none of it; if `body` or any step throws, nothing of it is published
    /// (a local copy it had replaced stays a local copy, with the archive's version of it).
    ///
    /// ```swift
    /// let counts = try await database.hydrate(archive: record, mode: .replace) { writer in
    ///     for message in decoded { try writer.write(message) }
    ///     return ArchiveContentSummary(from: from, to: to, contentTopics: topics, entryCount: n, rejections: [:])
    /// }
    /// ```
    ///
    /// It never blocks a thread of Swift's cooperative pool: `body` stages on a thread of its
    /// own while the apply step runs on another. Cancelling the calling task stops it within
    /// `cancellationCheckInterval` messages or one chunk: nothing is visible and this throws
    /// `CancellationError`, so a shutdown never waits for a large archive to finish.
    /// Throws `HistoryStoreError.alreadyImported` unless `force`, what `body` throws, and
    /// `DatabaseError` (busy past the timeout, disk full).
    public func hydrate(
        archive: ArchiveRecord, mode: HydrationMode, force: Bool = false,
        body: @escaping @Sendable (ArchiveHydrationWriter) throws -> ArchiveContentSummary
    ) async throws -> HydrationCounts {
        let progress = StagingProgress()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                Thread {
                    continuation.resume(with: Result {
                        try self.runImport(archive: archive, mode: mode, force: force, progress: progress, body: body)
                    })
                }.start()
            }
        } onCancel: {
            progress.stop()
        }
    }

    /// Stages on this thread while a new one applies, a chunk behind; returns when both have
    /// ended and the staging file is gone.
    private func runImport(
        archive: ArchiveRecord, mode: HydrationMode, force: Bool, progress: StagingProgress,
        body: (ArchiveHydrationWriter) throws -> ArchiveContentSummary
    ) throws -> HydrationCounts {
        if progress.isStopped { throw CancellationError() }
        if !force, try isImported(archiveID: archive.id) { throw HistoryStoreError.alreadyImported(archiveID: archive.id) }
        let staging = try ArchiveStaging(historyPath: path)
        let stagingPath = staging.path
        return try removing(staging) {
            let applied = Mutex<Result<HydrationCounts, any Error>?>(nil)
            let applyEnded = DispatchSemaphore(value: 0)
            Thread {
                let result = Result {
                    try self.apply(staging: stagingPath, archive: archive, mode: mode, force: force, progress: progress)
                }
                // A failed apply stops the staging too (nothing would use its rows).
                if case .failure = result { progress.stop() }
                applied.withLock { $0 = result }
                applyEnded.signal()
            }.start()
            // Its outcome goes to `progress`, where the apply step reads it.
            staging.fill(commitEvery: applyPacing.chunkRows, progress: progress, body)
            applyEnded.wait()
            return try applied.withLock { $0! }.get()
        }
    }

    /// Runs `work`, then deletes the staging file whatever happened. A failure to delete it
    /// does not hide `work`'s outcome (the import committed, or failed, either way): it is
    /// logged and counted, and the file is left for `removeAbandonedStagingFiles`.
    private func removing<T>(_ staging: ArchiveStaging, _ work: () throws -> T) throws -> T {
        let result = Result { try work() }
        removeStagingFile(staging)
        return try result.get()
    }

    private func removeStagingFile(_ staging: ArchiveStaging) {
        do { try staging.remove() } catch {
            stagingFilesLeft.add(1, ordering: .relaxed)
            logger.warning("cannot remove an import's staging file", metadata: ["path": "\(staging.path)", "error": "\(error)"])
        }
    }

    public func isImported(archiveID: String) throws -> Bool {
        try pool.read { try Self.isImported($0, archiveID: archiveID) }
    }

    static func isImported(_ db: Database, archiveID: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM imported_archive WHERE id = ?", arguments: [archiveID]) ?? false
    }

    static func record(
        _ db: Database, archive: ArchiveRecord, mode: HydrationMode, summary: ArchiveContentSummary,
        counts: HydrationCounts
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let topics = String(decoding: try encoder.encode(summary.contentTopics), as: UTF8.self)
        let rejections = String(decoding: try encoder.encode(summary.rejections), as: UTF8.self)
        try db.execute(sql: """
            INSERT OR REPLACE INTO imported_archive
                (id, community_id, cid, from_time, to_time, content_topics, mode, message_count,
                 stored_count, replaced_count, unchanged_count, removed_count, rejected_count, rejections, imported_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [
                archive.id, archive.communityID, archive.cid, Int64(summary.from), Int64(summary.to), topics,
                mode.rawValue, summary.entryCount, counts.stored, counts.replaced, counts.unchanged, counts.removed,
                summary.rejections.values.reduce(0, +), rejections, Int64(Date().timeIntervalSince1970 * 1000),
            ])
        // In the same transaction: an archive is never both imported and waiting for import or
        // failed, whenever the process dies (only its file can be left, `sweepArchives` removes it).
        try db.execute(sql: "DELETE FROM downloaded_archive WHERE id = ?", arguments: [archive.id])
        try db.execute(sql: "DELETE FROM archive_failure WHERE id = ?", arguments: [archive.id])
        try db.execute(sql: "DELETE FROM key_wait WHERE community_id = ? AND kind = 'archive' AND item = ?",
                       arguments: [archive.communityID, archive.id])
        // Its messages waiting for a key: replaced by this import's (a forced one may hold fewer).
        try db.execute(sql: "DELETE FROM held_message WHERE community_id = ? AND archive_id = ?", arguments: [archive.communityID, archive.id])
        if !summary.held.isEmpty {
            let hold = try db.makeStatement(sql: """
                INSERT OR IGNORE INTO held_message (community_id, archive_id, entry_id, group_id, key_id, entry, held_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for message in summary.held {
                try hold.execute(arguments: [archive.communityID, archive.id, message.entryID, message.groupID, message.keyID, message.entry, now])
            }
        }
    }
}
