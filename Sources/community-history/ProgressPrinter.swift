import Foundation
import PeerHTTP
import SyncEngine

/// Human progress lines on standard error (standard output carries the report).
struct ProgressPrinter: Sendable {
    let enabled: Bool

    func line(_ text: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    func show(_ event: SyncEvent) {
        switch event {
        case .announcementAccepted(let clock, let cid): line("announcement accepted: index \(cid) (clock \(clock))")
        case .announcementIgnored(let reason): line("announcement ignored: \(reason)")
        case .indexDownloaded(let cid, let archives, let rejected):
            line("index downloaded: \(cid), \(archives) archives" + (rejected > 0 ? ", \(rejected) entries rejected" : ""))
        case .downloadStarted(let id, _): line("downloading \(id.prefix(18))…")
        case .archiveDownloaded(let id, let from, let to, let bytes):
            line("downloaded  \(id.prefix(18))… \(Self.day(from))..\(Self.day(to)) (\(bytes) bytes)")
        case .importingArchive(let id): line("importing   \(id.prefix(18))…")
        case .archiveImported(let result):
            line("imported    \(result.archiveID.prefix(18))…: \(result.counts.stored) stored, \(result.counts.replaced) replaced, \(result.counts.removed) removed, \(result.rejected.values.reduce(0, +)) rejected")
        case .archiveFailed(let id, let reason): line("failed      \(id.prefix(18))…: \(reason)")
        case .finished(let outcome): line("finished: \(outcome)")
        }
    }

    static func day(_ seconds: UInt64) -> String {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withFullDate]
        return format.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}

/// Lets the command tell peer failures apart without importing the client modules' types.
typealias PeerErrorDescribing = PeerError
