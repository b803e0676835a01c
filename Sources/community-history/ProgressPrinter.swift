import Foundation
import Synchronization
import SyncEngine

#if canImport(Glibc)
import Glibc
#endif

/// Live progress on a terminal: one redrawn line per community with a bar for the plan's
/// archives, bytes downloaded and messages stored. When standard error is not a terminal it
/// prints nothing (logs still go through swift-log), so scripts and CI stay quiet.
final class ProgressPrinter: Sendable {
    struct Plan {
        var archives = 0
        var imported = 0
        var failed = 0
        var bytes: Int64 = 0
        var messages = 0
        var current = ""
    }

    let enabled: Bool
    private let plans = Mutex<[String: Plan]>([:])

    init(enabled: Bool) {
        self.enabled = enabled && isatty(STDERR_FILENO) != 0
    }

    /// A line that stays (announcements, outcomes).
    func line(_ text: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text + "\n").utf8))
    }

    func show(_ event: SyncEvent, community: String = "") {
        guard enabled else { return }
        let label = community.isEmpty ? "" : "\(community.prefix(10))… "
        let plan: Plan? = plans.withLock { plans in
            var plan = plans[community] ?? Plan()
            switch event {
            case .indexDownloaded(_, let archives, _):
                plan = Plan(archives: archives)
            case .downloadStarted(let id, _): plan.current = "downloading \(id.prefix(12))…"
            case .archiveDownloaded(_, _, _, let bytes): plan.bytes += bytes
            case .importingArchive(let id): plan.current = "importing \(id.prefix(12))…"
            case .archiveImported(let result):
                plan.imported += 1
                plan.messages += result.counts.stored + result.counts.replaced
                plan.current = ""
            case .archiveFailed: plan.failed += 1
            default: break
            }
            plans[community] = plan
            return plan
        }
        switch event {
        case .announcementAccepted(let clock, let cid): line("\(label)announcement accepted: index \(cid) (clock \(clock))")
        case .announcementIgnored(let reason): line("\(label)announcement ignored: \(reason)")
        case .archiveFailed(let id, let reason): line("\(label)archive \(id.prefix(18))… failed: \(reason)")
        case .finished(let outcome): line("\(label)finished: \(outcome)")
        default:
            guard let plan else { return }
            let total = max(plan.archives, 1)
            let done = plan.imported + plan.failed
            let width = 24
            let filled = min(width, done * width / total)
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let text = "\(label)[\(bar)] \(done)/\(plan.archives) archives · \(plan.bytes / 1024) KiB · \(plan.messages) messages \(plan.current)"
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
        }
    }
}
