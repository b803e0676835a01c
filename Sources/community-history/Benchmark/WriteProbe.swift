import Foundation
import GRDB

/// Behaves like a chat client beside the agent: from its own connection it writes one row in a
/// short transaction every `interval`, waiting for the write lock as long as it must (a client
/// sets a long busy timeout), and remembers the longest it waited. The row goes to a table of
/// its own (`benchmark_probe`), so the history the benchmark measures is untouched.
///
/// ```swift
/// let probe = try WriteProbe(databasePath: db, interval: .milliseconds(50))
/// probe.start()
/// …                                  // run the sync
/// let waits = probe.stop()           // waits.longest, waits.count
/// ```
final class WriteProbe: @unchecked Sendable {
    struct Waits: Codable {
        var count = 0
        var longestSeconds = 0.0
        var failures = 0
    }

    private let queue: DatabaseQueue
    private let interval: Duration
    // Written by the probe's thread, read after `done` is signalled.
    private var waits = Waits()
    private let stopping = NSCondition()
    private var stopRequested = false
    private let done = DispatchSemaphore(value: 0)

    /// Creates the probe's table. Throws when the database cannot be opened or written.
    init(databasePath: String, interval: Duration) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(600)
        queue = try DatabaseQueue(path: databasePath, configuration: configuration)
        self.interval = interval
        try queue.write { try $0.execute(sql: "CREATE TABLE IF NOT EXISTS benchmark_probe (written_at INTEGER NOT NULL)") }
    }

    /// Starts writing, on a thread of its own (the waits block it).
    func start() {
        let thread = Thread { [self] in
            let clock = ContinuousClock()
            while !shouldStop(waitingFor: interval) {
                let started = clock.now
                do {
                    try queue.write { try $0.execute(sql: "INSERT INTO benchmark_probe VALUES (?)", arguments: [Date().timeIntervalSince1970]) }
                    waits.count += 1
                    waits.longestSeconds = max(waits.longestSeconds, (clock.now - started).inSeconds)
                } catch {
                    // A write a chat client could not make: counted and printed with the figures.
                    waits.failures += 1
                }
            }
            done.signal()
        }
        thread.start()
    }

    /// Stops the probe and returns what it measured.
    func stop() -> Waits {
        stopping.lock()
        stopRequested = true
        stopping.signal()
        stopping.unlock()
        done.wait()
        return waits
    }

    private func shouldStop(waitingFor interval: Duration) -> Bool {
        stopping.lock()
        defer { stopping.unlock() }
        if !stopRequested { _ = stopping.wait(until: Date().addingTimeInterval(interval.inSeconds)) }
        return stopRequested
    }
}
