import Foundation
import GRDB
import HistoryStore
import StatusWire
import Testing
@testable import ArchiveImport

/// Issue 27: following 200 communities with a desktop's 1,024 open files, the agent recorded
/// good archives as unimportable for good: a file it could not open read as bad content, and
/// the re-check (run once descriptors were free again) found the bytes were what the CID
/// names, so the archive was rejected. Only bytes that were read and proved bad may reject.
@Suite struct ArchiveImportFailureTests {
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
        let failure = await ArchiveImportFailure.classify(cause.error) { await recheck() }
        guard case .localResources = failure else { Issue.record("\(failure)"); return }
        #expect(failure.keepsDownload)
        #expect(recheck.asked == 0, "nothing read: nothing to re-check")
    }

    /// A downloaded file that vanished (ENOENT) is downloaded again, not rejected.
    @Test func aVanishedFileIsDownloadedAgain() async {
        let recheck = Recheck(.matches)
        let failure = await ArchiveImportFailure.classify(ArchiveDecodingError.unreadableFile(path: "a", reason: "No such file or directory", errno: ENOENT)) { await recheck() }
        #expect(failure == .unreadableFile(detail: "cannot read a: No such file or directory") && !failure.keepsDownload)
        #expect(recheck.asked == 0)
    }

    /// Bytes that were read and do not decode: rejected only when a second read proves they are
    /// what the CID names; damaged on disk, downloaded again; a second read that fails decides nothing.
    @Test func onlyBytesProvedBadAreRejected() async {
        let bad = ArchiveDecodingError.malformed(context: "field 3")
        #expect(await ArchiveImportFailure.classify(bad) { .matches } == .rejected(.malformed, detail: "malformed protobuf: field 3"))
        let differs = await ArchiveImportFailure.classify(bad) { .differs }
        guard case .unreadableFile = differs else { Issue.record("\(differs)"); return }
        #expect(!differs.keepsDownload)
        let unreadable = await ArchiveImportFailure.classify(bad) { .unreadable("Too many open files") }
        guard case .localResources = unreadable else { Issue.record("\(unreadable)"); return }
        #expect(unreadable.keepsDownload)
    }

    @Test func overALimitIsNotRemembered() async {
        let failure = await ArchiveImportFailure.classify(ArchiveDecodingError.inflatedSizeExceeded(limit: 10)) { .matches }
        guard case .overLimit = failure else { Issue.record("\(failure)"); return }
        #expect(!failure.keepsDownload)
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
        let full = await ArchiveImportFailure.classify(DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full")) { await recheck() }
        guard case .database(.full, _) = full else { Issue.record("\(full)"); return }
        #expect(full.keepsDownload)
        #expect("\(full)".contains(DatabaseFailure.full.fix))
        let busy = await ArchiveImportFailure.classify(DatabaseError(resultCode: .SQLITE_BUSY, message: "database is locked")) { await recheck() }
        guard case .database(.busy, _) = busy else { Issue.record("\(busy)"); return }
        #expect(recheck.asked == 0)
    }

    /// Imported before, or stopped: neither is a failure of the archive, and a stop keeps the file.
    @Test func alreadyImportedAndCancelledAreNotTheArchives() async {
        let recheck = Recheck(.matches)
        #expect(await ArchiveImportFailure.classify(HistoryStoreError.alreadyImported(archiveID: "0x01")) { await recheck() } == .alreadyImported)
        let cancelled = await ArchiveImportFailure.classify(CancellationError()) { await recheck() }
        #expect(cancelled == .cancelled && cancelled.keepsDownload)
        #expect(recheck.asked == 0)
    }

    /// A Foundation file error carries its errno underneath; it is found without reading a domain string.
    @Test func aFoundationFileErrorsErrnoIsFound() {
        let error = CocoaError(.fileReadNoPermission, userInfo: [NSUnderlyingErrorKey: POSIXError(.EACCES)])
        #expect(LocalFailure.errno(of: error) == EACCES)
        #expect(LocalFailure.isLocal(error))
    }
}
