import ArgumentParser
import HistoryStore
import Logging
import StatusWire

extension HydrationMode: ExpressibleByArgument {}

/// Decoding limits on the command line.
struct LimitOptions: ParsableArguments {
    @Option(help: "Largest size an archive may have once inflated, in bytes.")
    var maxArchiveBytes: Int = DecodingLimits.default.maxInflatedBytes

    @Option(help: "Largest size of a single archived message, in bytes.")
    var maxMessageBytes: Int = DecodingLimits.default.maxMessageBytes

    var limits: DecodingLimits { DecodingLimits(maxInflatedBytes: maxArchiveBytes, maxMessageBytes: maxMessageBytes) }

    func validate() throws {
        guard maxArchiveBytes > 0, maxMessageBytes > 0 else {
            throw ValidationError("--max-archive-bytes and --max-message-bytes must be positive")
        }
    }
}

struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    /// Sends logs to standard error; with a live `progress` block on a terminal, above it.
    func bootstrap(progress: ProgressPrinter? = nil) {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            ConsoleLogHandler(label: label, level: level, progress: progress)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
