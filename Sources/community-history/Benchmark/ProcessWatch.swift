import Foundation
import Synchronization

/// What `/proc` says of a running process at one moment (Linux).
struct ProcessSample: Sendable {
    /// User and system CPU time since the process started.
    var cpuSeconds: Double
    var residentMiB: Double
    var threads: Int
    var openFiles: Int

    /// Reads `/proc/<pid>/stat`, `status` and `fd`; nil once the process is gone (or on a
    /// system without `/proc`).
    static func read(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let files = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return nil }
        // After the command name in parentheses (which may hold spaces): state is field 3,
        // utime and stime are fields 14 and 15 (proc(5)).
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        func kiB(_ key: String) -> Double {
            // "VmRSS:\t   5600 kB", "Threads:\t11": the value after the key, past tabs and spaces.
            status.split(separator: "\n").first { $0.hasPrefix(key) }?.split(whereSeparator: { $0 == " " || $0 == "\t" })
                .dropFirst().first.flatMap { Double($0) } ?? 0
        }
        return ProcessSample(cpuSeconds: (user + system) / Double(sysconf(Int32(_SC_CLK_TCK))), residentMiB: kiB("VmRSS:") / 1024,
                             threads: Int(kiB("Threads:")), openFiles: files.count)
    }
}

/// Samples a process every `interval` until cancelled and keeps the peaks (resident memory,
/// threads, open files) and the last CPU time: a benchmark's view of a child it runs.
///
/// ```swift
/// let watch = ProcessWatch(pid: agent.processIdentifier)
/// async let sampling: Void = watch.run()
/// … ; print(watch.peaks.threads)
/// ```
final class ProcessWatch: Sendable {
    struct Peaks: Sendable {
        var residentMiB = 0.0
        var threads = 0
        var openFiles = 0
        var cpuSeconds = 0.0
    }

    let pid: Int32
    private let state = Mutex(Peaks())

    init(pid: Int32) { self.pid = pid }

    var peaks: Peaks { state.withLock { $0 } }

    /// Samples now, records it, and returns it (nil once the process is gone).
    @discardableResult
    func sample() -> ProcessSample? {
        guard let sample = ProcessSample.read(pid: pid) else { return nil }
        state.withLock { peaks in
            peaks.residentMiB = max(peaks.residentMiB, sample.residentMiB)
            peaks.threads = max(peaks.threads, sample.threads)
            peaks.openFiles = max(peaks.openFiles, sample.openFiles)
            peaks.cpuSeconds = sample.cpuSeconds
        }
        return sample
    }

    /// Until cancelled or the process is gone.
    func run(every interval: Duration = .milliseconds(100)) async {
        while sample() != nil {
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }
}
