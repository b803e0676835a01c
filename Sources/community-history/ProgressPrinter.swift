import Foundation
import Synchronization
import StatusWire
import SyncEngine

#if canImport(Glibc)
import Glibc
#endif

/// Live progress on a terminal, drawn on standard error as a block at the bottom that is
/// redrawn in place: per community, a bar of the plan's archives with the bytes and messages
/// so far, and below it one line per archive in flight (a download bar with its bytes, or an
/// import with its message count). Lasting lines (accepted announcements, failures, logs,
/// events) print above the block.
///
/// When standard error is not a terminal it draws nothing, so scripts and CI stay quiet.
///
/// ```
/// 0x03a66ba3… [##########--------------] 4/10 archives · 1.1 MiB · 2,402 messages
///    download 0x0e61b94c5b… [############------------]  52% of 240.0 KiB
///    import   0xc3100b001e… 2,000 entries
/// ```
final class ProgressPrinter: Sendable {
    private struct InFlight {
        var id: ArchiveID
        var bytes: Int64 = 0
        var totalBytes: Int64 = 0
        var importing = false
        var entries = 0
    }

    private struct Plan {
        var archives = 0
        var imported = 0
        var failed = 0
        var bytes: Int64 = 0
        var messages = 0
        var inFlight: [InFlight] = []
    }

    private struct Screen {
        var plans: [String: Plan] = [:]
        var order: [String] = []
        /// Lines of the live block now on screen (the cursor is at the end of its last line).
        var drawnLines = 0
    }

    let enabled: Bool
    private let screen = Mutex(Screen())

    init(enabled: Bool) {
        self.enabled = enabled && isatty(STDERR_FILENO) != 0
    }

    /// A lasting line, printed above the live block.
    func line(_ text: String) {
        guard enabled else { return }
        screen.withLock { screen in
            Self.write(Self.erase(&screen) + text + "\n" + Self.draw(&screen))
        }
    }

    /// Lasting text for standard output (e.g. JSON events) without tearing the block.
    func standardOutput(_ data: Data) {
        guard enabled else { return FileHandle.standardOutput.write(data) }
        screen.withLock { screen in
            Self.write(Self.erase(&screen))
            FileHandle.standardOutput.write(data)
            Self.write(Self.draw(&screen))
        }
    }

    /// Leaves the block as it is and moves below it, so what is printed next starts on a new line.
    func finish() {
        guard enabled else { return }
        screen.withLock { screen in
            if screen.drawnLines > 0 { Self.write("\n") }
            screen.drawnLines = 0
            screen.plans = [:]
            screen.order = []
        }
    }

    func show(_ event: SyncEvent, community: String = "") {
        guard enabled else { return }
        let label = community.isEmpty ? "" : "\(community.prefix(10))… "
        let lasting: String?
        switch event {
        case .announcementAccepted(let clock, let cid): lasting = "\(label)announcement accepted: index \(cid) (clock \(clock))"
        case .announcementIgnored(let reason): lasting = "\(label)announcement ignored: \(reason)"
        case .archiveFailed(let id, let failure):
            lasting = "\(label)archive \(id.string.prefix(18))… " + (failure.kind.isRetryable ? "failed" : "cannot be imported") + ": \(failure.reason)"
        case .finished(let outcome): lasting = "\(label)\(outcome)"
        case .recordFailed(let what, let error): lasting = "\(label)could not record \(what): \(error)"
        default: lasting = nil
        }
        screen.withLock { screen in
            if screen.plans[community] == nil { screen.order.append(community) }
            var plan = screen.plans[community] ?? Plan()
            Self.apply(event, to: &plan)
            screen.plans[community] = plan
            Self.write(Self.erase(&screen) + (lasting.map { $0 + "\n" } ?? "") + Self.draw(&screen))
        }
    }

    // MARK: - State

    private static func apply(_ event: SyncEvent, to plan: inout Plan) {
        func update(_ id: ArchiveID, _ change: (inout InFlight) -> Void) {
            if let index = plan.inFlight.firstIndex(where: { $0.id == id }) {
                change(&plan.inFlight[index])
            } else {
                var line = InFlight(id: id)
                change(&line)
                plan.inFlight.append(line)
            }
        }
        switch event {
        case .planned(let archives, let knownBad):
            // Archives that failed verification before are not tried again: count them done.
            plan = Plan(archives: archives, failed: knownBad.count)
        case .downloadStarted(let id, _):
            update(id) { _ in }
        case .downloadProgress(let id, let bytes, let total):
            update(id) { $0.bytes = bytes; $0.totalBytes = total }
        case .archiveDownloaded(let id, _, _, let bytes):
            plan.bytes += bytes
            plan.inFlight.removeAll { $0.id == id }
        case .importingArchive(let id):
            update(id) { $0.importing = true }
        case .importProgress(let id, let entries):
            update(id) { $0.importing = true; $0.entries = entries }
        case .archiveImported(let result):
            plan.imported += 1
            plan.messages += result.counts.stored + result.counts.replaced
            plan.inFlight.removeAll { $0.id == result.archiveID }
        case .archiveFailed(let id, _):
            plan.failed += 1
            plan.inFlight.removeAll { $0.id == id }
        case .finished:
            plan.inFlight = []
        case .announcementAccepted, .announcementIgnored, .indexDownloaded, .recordFailed:
            break
        }
    }

    // MARK: - Drawing

    private static func lines(_ screen: Screen) -> [String] {
        var lines: [String] = []
        for community in screen.order {
            guard let plan = screen.plans[community], plan.archives > 0 || !plan.inFlight.isEmpty else { continue }
            let label = community.isEmpty ? "" : "\(community.prefix(10))… "
            let done = plan.imported + plan.failed
            lines.append("\(label)\(bar(done, of: plan.archives)) \(done)/\(plan.archives) archives · "
                         + "\(bytes(plan.bytes)) · \(count(plan.messages)) messages")
            for archive in plan.inFlight {
                let id = "\(archive.id.string.prefix(12))…"
                if archive.importing {
                    lines.append("   import   \(id) \(count(archive.entries)) entries")
                } else if archive.totalBytes > 0 {
                    let percent = Int(archive.bytes * 100 / archive.totalBytes)
                    lines.append("   download \(id) \(bar(Int(archive.bytes), of: Int(archive.totalBytes))) "
                                 + "\(String(format: "%3d", percent))% of \(bytes(archive.totalBytes))")
                } else {
                    lines.append("   download \(id) starting")
                }
            }
        }
        return lines
    }

    /// Moves to the start of the block and clears it.
    private static func erase(_ screen: inout Screen) -> String {
        guard screen.drawnLines > 0 else { return "" }
        let up = String(repeating: "\u{1B}[1A", count: screen.drawnLines - 1)
        screen.drawnLines = 0
        return up + "\r\u{1B}[J"
    }

    /// The block, each line cut to the terminal's width so that nothing wraps (a wrapped line
    /// would throw off the next erase).
    private static func draw(_ screen: inout Screen) -> String {
        let width = terminalWidth()
        let lines = lines(screen).map { $0.count < width ? $0 : String($0.prefix(width - 1)) }
        screen.drawnLines = lines.count
        return lines.joined(separator: "\n")
    }

    private static func write(_ text: String) {
        guard !text.isEmpty else { return }
        FileHandle.standardError.write(Data(text.utf8))
    }

    private static func terminalWidth() -> Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 100 }
        return Int(size.ws_col)
    }

    static func bar(_ done: Int, of total: Int, width: Int = 24) -> String {
        let filled = total > 0 ? min(width, done * width / total) : 0
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
    }

    static func bytes(_ value: Int64) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var amount = Double(value)
        var unit = 0
        while amount >= 1024, unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) bytes" : "\(String(format: "%.1f", amount)) \(units[unit])"
    }

    static func count(_ value: Int) -> String {
        let digits = Array(String(value))
        var text = ""
        for (offset, digit) in digits.enumerated() {
            if offset > 0 && (digits.count - offset) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return text
    }
}
