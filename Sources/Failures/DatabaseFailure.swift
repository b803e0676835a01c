/// What went wrong with the history database, from SQLite's own result code: the database is
/// busy, full, read-only, damaged, or could not be read from the disk. Each says what fixes it.
/// The sync keeps an archive's download on any of them (nothing is known of the archive) and
/// tries again; `status`, `sync`'s report and the events show which it was.
///
/// A plain value that every layer can name (the machine's `ArchiveFailure` carries it); the
/// history store classifies SQLite's errors into it (`DatabaseFailure(error)`, in HistoryStore).
public enum DatabaseFailure: String, Error, Sendable, Equatable, Codable, CustomStringConvertible {
    /// Another connection (a chat client, `sync`) held the write lock past the busy timeout
    /// (SQLITE_BUSY, SQLITE_LOCKED). A retry works once it lets go.
    case busy
    /// The disk, or the database's page limit, is full (SQLITE_FULL).
    case full
    /// The database, its directory or its journal cannot be written (SQLITE_READONLY,
    /// SQLITE_PERM, SQLITE_CANTOPEN, SQLITE_AUTH).
    case readOnly = "read-only"
    /// The file is not a database, or is damaged (SQLITE_CORRUPT, SQLITE_NOTADB).
    case corrupt
    /// The disk failed a read or write (SQLITE_IOERR), or memory ran out (SQLITE_NOMEM).
    case ioError = "io-error"
    /// Another failure of the store: a schema or SQL error, or one of the store's own
    /// (`HistoryStoreError`).
    case other

    public var description: String {
        switch self {
        case .busy: return "the database is busy (another connection held its write lock past the busy timeout)"
        case .full: return "the database's disk is full"
        case .readOnly: return "the database cannot be written"
        case .corrupt: return "the database file is damaged"
        case .ioError: return "the database's disk failed a read or a write"
        case .other: return "the database refused"
        }
    }

    /// What the user does about it.
    public var fix: String {
        switch self {
        case .busy: return "the sync tries again; if it lasts, find what keeps the database locked (another sync or agent, a chat client's long transaction)"
        case .full: return "free disk space where the database is"
        case .readOnly: return "check the permissions of the database, its directory and its -wal/-shm files, and that the disk is not mounted read-only"
        case .corrupt: return "restore the database from a backup, or move it aside and sync again (the archives are downloaded again)"
        case .ioError: return "check the disk (dmesg, SMART) and the memory left"
        case .other: return "the error says what; report it if it persists"
        }
    }
}
