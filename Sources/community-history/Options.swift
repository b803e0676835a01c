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

/// Where the history database is: `--db`, else `$COMMUNITY_HISTORY_DB`, else `history.sqlite` in
/// the XDG data directory (`DefaultPaths`).
struct DatabaseOption: ParsableArguments {
    @Option(name: .customLong("db"), help: ArgumentHelp(
        "SQLite database (default: $COMMUNITY_HISTORY_DB, else history.sqlite in $XDG_DATA_HOME/community-history).", valueName: "path"))
    var explicitPath: String?

    var path: String { explicitPath ?? DefaultPaths.database() }
}

struct LoggingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical (default: $COMMUNITY_HISTORY_LOG_LEVEL, else warning).",
                               valueName: "level"))
    var logLevel: Logger.Level?

    @Flag(name: .shortAndLong, help: "More detail: -v logs at info, -vv at debug.")
    var verbose: Int

    @Flag(name: .shortAndLong, help: "Only errors: no progress on the terminal, logs at error.")
    var quiet = false

    func validate() throws {
        if quiet && verbose > 0 { throw ValidationError("-q and -v contradict each other") }
        if logLevel == nil, let text = DefaultPaths.environment["COMMUNITY_HISTORY_LOG_LEVEL"], !text.isEmpty, Logger.Level(rawValue: text) == nil {
            throw ValidationError("COMMUNITY_HISTORY_LOG_LEVEL=\(text) is not a log level (trace, debug, info, notice, warning, error, critical)")
        }
    }

    /// `--log-level` wins, then -q/-v, then the environment, then warning.
    var level: Logger.Level {
        if let logLevel { return logLevel }
        if quiet { return .error }
        switch verbose {
        case 0: break
        case 1: return .info
        default: return .debug
        }
        return DefaultPaths.environment["COMMUNITY_HISTORY_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    }

    /// Sends logs to standard error; with a live `progress` block on a terminal, above it.
    func bootstrap(progress: ProgressPrinter? = nil) {
        let level = self.level
        LoggingSystem.bootstrap { label in
            ConsoleLogHandler(label: label, level: level, progress: progress)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
