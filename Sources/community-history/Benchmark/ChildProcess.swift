import Foundation
import PeerHTTP

/// Runs a program to its end with its output in files, without blocking a thread of Swift's
/// cooperative pool.
///
/// ```swift
/// let run = try await ChildProcess.run("/usr/bin/env", ["true"], stdout: "/tmp/out", stderr: "/tmp/err")
/// print(run.exitCode, run.seconds)
/// ```
enum ChildProcess {
    struct Finished {
        /// The exit code, or nil when a signal ended the process.
        var exitCode: Int32?
        /// From the start to the exit.
        var seconds: Double
    }

    static func run(_ executable: String, _ arguments: [String], stdout: String, stderr: String) async throws -> Finished {
        for path in [stdout, stderr] where !FileManager.default.createFile(atPath: path, contents: nil) {
            // Said here: FileHandle's error below would not name the cause (a full disk, no permission).
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: "cannot create \(path)"])
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdout))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        let clock = ContinuousClock()
        let started = clock.now
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { process in
                continuation.resume(returning: Finished(
                    exitCode: process.terminationReason == .exit ? process.terminationStatus : nil,
                    seconds: (clock.now - started).inSeconds))
            }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
    }
}
