import ArgumentParser
import Foundation
import Synchronization

/// How a command's errors reach standard error. On a terminal or in a script without `--json`:
/// `error: <message>` lines. Under `--json`: one JSON object when the command exits, so a
/// script reads errors the way it reads reports:
///
/// ```json
/// {"error":{"code":"database","exitCode":4,"messages":["no database at h.sqlite (…)"]},"schemaVersion":1}
/// ```
///
/// `code` names the exit code (README, "Exit codes"); decide on it or on `exitCode`, never on the messages.
enum ErrorOutput {
    /// Whether the command line asked for JSON (read once: the arguments do not change).
    static let json = CommandLine.arguments.dropFirst().contains("--json")
    private static let messages = Mutex<[String]>([])

    static func report(_ message: String) {
        if json {
            messages.withLock { $0.append(message) }
        } else {
            FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
        }
    }

    /// The name of each exit code, as `code` in the JSON.
    static func code(of exitCode: Int32) -> String {
        switch exitCode {
        case 1: return "report-differs"
        case 2: return "archives-failed"
        case 3: return "bad-input"
        case 4: return "database"
        case 5: return "peer-unreachable"
        case 6: return "check-failed"
        case 7: return "database-locked"
        case 64: return "usage"
        default: return "failed"
        }
    }

    /// Under `--json`, writes the JSON error for a command ending with `exitCode` (`unexpected`:
    /// the message of an error no command caught, such as a bad command line). Nothing when the
    /// command succeeded and said nothing.
    static func finish(exitCode: Int32, unexpected: String? = nil) {
        guard json else { return }
        var collected = messages.withLock { $0 }
        if let unexpected, !unexpected.isEmpty { collected.append(unexpected) }
        guard exitCode != 0 || !collected.isEmpty else { return }
        // An error no command caught has no exit code of its own (the parser's 1 or 64).
        let name = unexpected != nil && exitCode != 64 ? "failed" : code(of: exitCode)
        let object: [String: Any] = ["schemaVersion": 1, "error": ["code": name, "exitCode": Int(exitCode), "messages": collected]]
        do {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            FileHandle.standardError.write(data + Data("\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("error: \(collected.joined(separator: "; "))\n".utf8))
        }
    }
}

/// Reports an error on standard error: a line, or, under `--json`, kept for the one JSON object
/// the command prints when it exits (`ErrorOutput`).
func printError(_ message: String) {
    ErrorOutput.report(message)
}
