@_exported import Failures
import GRDB

extension DatabaseFailure {
    /// The failure `error` is, if it came from the history database; nil for anything else.
    ///
    /// ```swift
    /// do { try await database.recordOutcome(communityID: id, error: nil) } catch {
    ///     if let failure = DatabaseFailure(error) { print(failure, failure.fix) }
    /// }
    /// ```
    public init?(_ error: any Error) {
        if error is HistoryStoreError {
            self = .other
            return
        }
        guard let error = error as? DatabaseError else { return nil }
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED: self = .busy
        case .SQLITE_FULL: self = .full
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN, .SQLITE_AUTH: self = .readOnly
        case .SQLITE_CORRUPT, .SQLITE_NOTADB: self = .corrupt
        case .SQLITE_IOERR, .SQLITE_NOMEM: self = .ioError
        default: self = .other
        }
    }
}
