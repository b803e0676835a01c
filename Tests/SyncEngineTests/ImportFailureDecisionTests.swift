import Foundation
import GRDB
import HistoryStore
import StatusWire
import Testing
@testable import SyncEngine

/// Issue 27: following 200 communities with a desktop's 1,024 open files, the agent recorded
/// good archives as unimportable for good: a file it could not open read as bad content, and
/// the re-check (run once descriptors were free again) found the bytes were what the CID
/// names, so the archive was rejected. Only bytes that were read and proved bad may reject.
@Suite struct ImportFailureDecisionTests {
    /// The re-check a decision may ask for; counts whether it was asked.
    final class Recheck: @unchecked Sendable {
        let answer: CIDCheck
        private(set) var asked = 0
        init(_ answer: CIDCheck) { self.answer = answer }
        func callAsFunction() async -> CIDCheck { asked += 1; return answer }
    }

    struct Cause: Sendable, CustomTestStringConvertible {
        var name: String
        var error: any Error & Sendable
        var testDescription: String { name }
    }

    /// Each failure of the machine keeps the file and is retried: never a rejection, whatever a
    /// re-check of the (good) file would say.
    @Test(arguments: [
        Cause(name: "EMFILE opening the file", error: ArchiveDecodingError.unreadableFile(path: "a", reason: "Too many open files", errno: EMFILE)),
        Cause(name: "ENFILE opening the file", error: ArchiveDecodingError.unreadableFile(path: "a", reason: "Too many open files in system", errno: ENFILE)),
        Cause(name: "ENOMEM opening the file", error: ArchiveDecodingError.unreadableFile(path: "a", reason: "Cannot allocate memory", errno: ENOMEM)),
        Cause(name: "EACCES opening the file", error: ArchiveDecodingError.unreadableFile(path: "a", reason: "Permission denied", errno: EACCES)),
        Cause(name: "EIO reading the file", error: ArchiveDecodingError.unreadableFile(path: "a", reason: "read error", errno: EIO)),
        Cause(name: "zlib out of memory", error: ArchiveDecodingError.outOfMemory(context: "inflating zlib data")),
        Cause(name: "zlib could not start", error: ArchiveDecodingError.inflaterUnavailable(detail: "inflateInit for zlib data failed (-6)")),
        Cause(name: "EMFILE making the staging file", error: StagingFileError(path: "s.sqlite.new", operation: "create", errno: EMFILE)),
        Cause(name: "ENOSPC making the staging file", error: StagingFileError(path: "s.sqlite.new", operation: "create", errno: ENOSPC)),
        Cause(name: "EROFS making the staging file", error: StagingFileError(path: "s.sqlite.new", operation: "create", errno: EROFS)),
        Cause(name: "EACCES as a POSIX error", error: POSIXError(.EACCES)),
    ])
    func aFailureOfTheMachineIsRetriedAndKeepsTheFile(_ cause: Cause) async {
        let recheck = Recheck(.matches)
        let decision = await ImportFailureDecision.decide(cause.error) { await recheck() }
        #expect(decision.kind == .localResources || decision.kind == .database, "\(decision)")
        #expect(decision.kind.isRetryable && !decision.forgetDownload)
        #expect(recheck.asked == 0, "nothing read: nothing to re-check")
    }

    /// A downloaded file that vanished (ENOENT) is downloaded again, not rejected.
    @Test func aVanishedFileIsDownloadedAgain() async {
        let recheck = Recheck(.matches)
        let decision = await ImportFailureDecision.decide(ArchiveDecodingError.unreadableFile(path: "a", reason: "No such file or directory", errno: ENOENT)) { await recheck() }
        #expect(decision == ImportFailureDecision(kind: .unreadableFile, forgetDownload: true))
        #expect(recheck.asked == 0)
    }

    /// Bytes that were read and do not decode: rejected only when a second read proves they are
    /// what the CID names; damaged on disk, downloaded again; a second read that fails decides nothing.
    @Test func onlyBytesProvedBadAreRejected() async {
        let bad = ArchiveDecodingError.malformed(context: "field 3")
        #expect(await ImportFailureDecision.decide(bad) { .matches } == ImportFailureDecision(kind: .rejected, forgetDownload: true))
        #expect(await ImportFailureDecision.decide(bad) { .differs }.kind == .unreadableFile)
        let unreadable = await ImportFailureDecision.decide(bad) { .unreadable("Too many open files") }
        #expect(unreadable.kind == .localResources && !unreadable.forgetDownload)
    }

    @Test func overALimitIsNotRemembered() async {
        let decision = await ImportFailureDecision.decide(ArchiveDecodingError.inflatedSizeExceeded(limit: 10)) { .matches }
        #expect(decision.kind == .overLimit)
    }

    /// The file the decoder opens says why it cannot: the errno travels in the typed error.
    @Test func theByteSourceCarriesErrno() throws {
        #expect {
            _ = try FileByteSource(path: "/nonexistent/\(UUID().uuidString)")
        } throws: { error in
            guard case .unreadableFile(_, _, let code)? = error as? ArchiveDecodingError else { return false }
            return code == ENOENT && (error as? ArchiveDecodingError)?.isLocalFailure == true
        }
    }

    /// A database failure keeps the file, is never a rejection, and says which failure it was
    /// (SQLite's result code), so the report can say what fixes it.
    @Test func aDatabaseFailureKeepsTheFileAndSaysWhichItWas() async {
        let recheck = Recheck(.matches)
        let full = await ImportFailureDecision.decide(DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full")) { await recheck() }
        #expect(full == ImportFailureDecision(kind: .database, database: .full, forgetDownload: false))
        let busy = await ImportFailureDecision.decide(DatabaseError(resultCode: .SQLITE_BUSY, message: "database is locked")) { await recheck() }
        #expect(busy.database == .busy && busy.kind == .database)
        #expect(recheck.asked == 0)
        let failure = ArchiveFailure.database(.full, "import", DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full"))
        #expect(failure.kind == .database && failure.database == .full)
        #expect(failure.reason.contains(DatabaseFailure.full.fix))
    }
}
