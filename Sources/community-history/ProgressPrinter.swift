import Foundation
import Synchronization
import StatusWire
import PeerHTTP
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
/// 0x03a66ba3… [######!---------------] 4/10 archives (1 failed) · 1.1 MiB · 2,402 messages · 310.0 KiB/s · ETA 0:12
///    download 0x0e61b94c5b… [############------------]  52% of 240.0 KiB
///    import   0xc3100b001e… 2,000 entries
/// 0x03a66ba3… waiting 14 s for more announcements (the quiet window)
/// 0x03a66ba3… retrying in 40 s (attempt 2 of 3)
/// ```
///
/// The waits count down once a second.
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
        /// Downloaded, encrypted with a key not held: kept for it (`k` in the bar).
        var waitingForKey = 0
        var bytes: Int64 = 0
        var messages = 0
        var inFlight: [InFlight] = []
        /// When the plan was made (for its rate and the time left).
        var started: ContinuousClock.Instant?
        /// A wait being counted down: the quiet window or the backoff before a retry.
        var waiting: (timer: SyncTimer, until: ContinuousClock.Instant)?
        /// Plans of this community that failed so far (the next try is attempt failedPlans + 1).
        var failedPlans = 0
    }

    private struct Screen {
        var plans: [String: Plan] = [:]
        var order: [String] = []
        /// Lines of the live block now on screen (the cursor is at the end of its last line).
        var drawnLines = 0
    }

    let enabled: Bool
    /// How many times a failed plan is tried in all (`sync --retries` + 1); nil: for ever (the agent).
    let maxAttempts: Int?
    private let screen = Mutex(Screen())
    /// Redraws the block once a second while it counts a wait down; cancelled by `finish`.
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    init(enabled: Bool, maxAttempts: Int? = nil) {
        self.enabled = enabled && isatty(STDERR_FILENO) != 0
        self.maxAttempts = maxAttempts
        guard self.enabled else { return }
        ticker.withLock { $0 = Task { [weak self] in
            while !Task.isCancelled {
                do { try await Task.sleep(for: .seconds(1)) } catch { return }
                guard let self else { return }  // the printer is gone: so is the block
                self.redraw()
            }
        } }
    }

    private func redraw() {
        screen.withLock { screen in
            guard screen.plans.values.contains(where: { $0.waiting != nil }) else { return }
            Self.write(Self.erase(&screen) + Self.draw(&screen, maxAttempts: maxAttempts))
        }
    }

    /// A lasting line, printed above the live block.
    func line(_ text: String) {
        guard enabled else { return }
        screen.withLock { screen in
            Self.write(Self.erase(&screen) + text + "\n" + Self.draw(&screen, maxAttempts: maxAttempts))
        }
    }

    /// Lasting text for standard output (e.g. JSON events) without tearing the block.
    func standardOutput(_ data: Data) {
        guard enabled else { return FileHandle.standardOutput.write(data) }
        screen.withLock { screen in
            Self.write(Self.erase(&screen))
            FileHandle.standardOutput.write(data)
            Self.write(Self.draw(&screen, maxAttempts: maxAttempts))
        }
    }

    /// Leaves the block as it is and moves below it, so what is printed next starts on a new line.
    func finish() {
        guard enabled else { return }
        ticker.withLock { $0?.cancel(); $0 = nil }
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
        case .heldMessagesReleased(let archives, let stored, let replaced):
            lasting = "\(label)\(stored + replaced) encrypted message(s) held in \(archives) archive(s) for a key now held: stored (no download)"
        case .waitingForKey(let wait):
            lasting = "\(label)\(wait.kind.rawValue) \(wait.item.prefix(18))… waits for key \(wait.keyID) (group \(wait.groupID)): "
                + "import it with `community-history keys import`; it is kept, not downloaded again"
        case .finished(let outcome): lasting = "\(label)\(outcome)"
        case .recordFailed(let what, let error): lasting = "\(label)could not record \(what): \(error)"
        default: lasting = nil
        }
        screen.withLock { screen in
            if screen.plans[community] == nil { screen.order.append(community) }
            var plan = screen.plans[community] ?? Plan()
            Self.apply(event, to: &plan)
            screen.plans[community] = plan
            Self.write(Self.erase(&screen) + (lasting.map { $0 + "\n" } ?? "") + Self.draw(&screen, maxAttempts: maxAttempts))
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
        // A wait lasts until the work it waits for starts (the outcome and a failed record come with it).
        switch event {
        case .waiting, .announcementIgnored, .finished, .recordFailed: break
        default: plan.waiting = nil
        }
        switch event {
        case .planned(let archives, let knownBad):
            // Archives that failed verification before are not tried again: count them done.
            plan = Plan(archives: archives, failed: knownBad.count, started: .now, failedPlans: plan.failedPlans)
        case .waiting(let timer, let delay):
            // A retry's wait comes with the failure of the plan before it (the machine's order:
            // the timer, then the outcome).
            if timer == .retry { plan.failedPlans += 1 }
            plan.waiting = (timer, .now + delay)
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
        case .finished(let outcome):
            plan.inFlight = []
            // A plan that succeeds ends the run of failures: the next failure is attempt 1 again.
            if case .failed = outcome {} else { plan.failedPlans = 0 }
        case .waitingForKey(let wait) where wait.kind == .archive:
            plan.waitingForKey += 1
            if let id = try? ArchiveID(wait.item) { plan.inFlight.removeAll { $0.id == id } }
        case .announcementAccepted, .announcementIgnored, .indexDownloaded, .recordFailed, .waitingForKey, .heldMessagesReleased:
            break
        }
    }

    // MARK: - Drawing

    private static func lines(_ screen: Screen, maxAttempts: Int?, now: ContinuousClock.Instant = .now) -> [String] {
        var lines: [String] = []
        for community in screen.order {
            guard let plan = screen.plans[community] else { continue }
            let label = community.isEmpty ? "" : "\(community.prefix(10))… "
            if let waiting = plan.waiting, waiting.until > now {
                let seconds = Int((waiting.until - now).inSeconds.rounded(.up))
                switch waiting.timer {
                case .quietWindow:
                    lines.append("\(label)waiting \(seconds) s for more announcements (the quiet window)")
                case .retry:
                    // The next try is attempt failedPlans + 1; past the last one (`sync` gives up) nothing is said.
                    let attempt = plan.failedPlans + 1
                    if attempt <= maxAttempts ?? .max {
                        lines.append("\(label)retrying in \(seconds) s (attempt \(attempt)\(maxAttempts.map { " of \($0)" } ?? ""))")
                    }
                }
            }
            guard plan.archives > 0 || !plan.inFlight.isEmpty else { continue }
            let done = plan.imported + plan.failed + plan.waitingForKey
            var line = "\(label)\(bar(plan.imported, failed: plan.failed, waiting: plan.waitingForKey, of: plan.archives)) \(done)/\(plan.archives) archives"
                + (plan.failed > 0 ? " (\(plan.failed) failed)" : "")
                + (plan.waitingForKey > 0 ? " (\(plan.waitingForKey) waiting for a key)" : "")
                + " · \(bytes(plan.bytes)) · \(count(plan.messages)) messages"
            if let started = plan.started {
                let elapsed = (now - started).inSeconds
                if elapsed >= 1 && plan.bytes > 0 { line += " · \(bytes(Int64(Double(plan.bytes) / elapsed)))/s" }
                if done > 0 && done < plan.archives {
                    line += " · ETA \(clock(elapsed / Double(done) * Double(plan.archives - done)))"
                }
            }
            lines.append(line)
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
    private static func draw(_ screen: inout Screen, maxAttempts: Int?) -> String {
        let width = terminalWidth()
        let lines = lines(screen, maxAttempts: maxAttempts).map { $0.count < width ? $0 : String($0.prefix(width - 1)) }
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
        bar(done, failed: 0, of: total, width: width)
    }

    /// `#` for what is done, `!` for what failed, `k` for what waits for a key, `-` for what is left.
    static func bar(_ done: Int, failed: Int, waiting: Int = 0, of total: Int, width: Int = 24) -> String {
        func cells(_ count: Int, within room: Int) -> Int { total > 0 ? min(room, max(count > 0 ? 1 : 0, count * width / total)) : 0 }
        let filled = total > 0 ? min(width, done * width / total) : 0
        let bad = cells(failed, within: width - filled)
        let keys = cells(waiting, within: width - filled - bad)
        return "[" + String(repeating: "#", count: filled) + String(repeating: "!", count: bad) + String(repeating: "k", count: keys)
            + String(repeating: "-", count: width - filled - bad - keys) + "]"
    }

    /// `0:45`, `12:03`, `1:02:03`.
    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let (hours, minutes, rest) = (total / 3600, total / 60 % 60, total % 60)
        return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, rest) : String(format: "%d:%02d", minutes, rest)
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
