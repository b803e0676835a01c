import Foundation

/// Where commands look when a path or URL is not given on the command line: an environment
/// variable first, then the XDG base directories (the working directory only when asked, with a
/// relative `--db`). README, "Paths and environment".
///
/// | variable | used for |
/// |---|---|
/// | `COMMUNITY_HISTORY_DB` | `--db` of every command |
/// | `COMMUNITY_HISTORY_CONFIG` | `agent --config` |
/// | `COMMUNITY_HISTORY_STORAGE_URL` (or the older `COMMUNITY_HISTORY_CODEX_URL`), `COMMUNITY_HISTORY_WAKU_URL` | `--storage-url`, `--waku-url` |
/// | `COMMUNITY_HISTORY_LOG_LEVEL` | `--log-level` |
enum DefaultPaths {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// `$XDG_DATA_HOME/community-history` (default `~/.local/share/community-history`). A relative
    /// `XDG_DATA_HOME` is ignored, as the XDG specification says.
    static var dataDirectory: String { xdg("XDG_DATA_HOME", fallback: ".local/share") + "/community-history" }

    /// `$XDG_CONFIG_HOME/community-history` (default `~/.config/community-history`).
    static var configDirectory: String { xdg("XDG_CONFIG_HOME", fallback: ".config") + "/community-history" }

    /// The database a command uses without `--db`: `$COMMUNITY_HISTORY_DB`, else `name` in the data directory.
    static func database(_ name: String = "history.sqlite") -> String {
        // Relative to the working directory, made absolute here: `agent` reads relative paths
        // against its configuration file, and both must mean the same file.
        if let path = environment["COMMUNITY_HISTORY_DB"], !path.isEmpty { return URL(fileURLWithPath: path).standardizedFileURL.path }
        return dataDirectory + "/" + name
    }

    /// The agent's configuration without `--config`.
    static var agentConfiguration: String {
        if let path = environment["COMMUNITY_HISTORY_CONFIG"], !path.isEmpty { return path }
        return configDirectory + "/agent.json"
    }

    static var storageURL: String {
        ["COMMUNITY_HISTORY_STORAGE_URL", "COMMUNITY_HISTORY_CODEX_URL"].lazy
            .compactMap { environment[$0].flatMap { $0.isEmpty ? nil : $0 } }.first ?? "http://127.0.0.1:8080"
    }
    static var wakuURL: String { environment["COMMUNITY_HISTORY_WAKU_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:8645" }

    /// Makes the directory of a database about to be written when it is the default data
    /// directory (mode 0700: the history is the user's). A path given by the user is used as it is.
    static func prepareForWriting(_ databasePath: String) throws {
        let directory = URL(fileURLWithPath: databasePath).deletingLastPathComponent().standardizedFileURL.path
        guard directory == URL(fileURLWithPath: dataDirectory).standardizedFileURL.path,
              !FileManager.default.fileExists(atPath: directory) else { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    private static func xdg(_ variable: String, fallback: String) -> String {
        if let value = environment[variable], value.hasPrefix("/") { return value }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/" + fallback
    }
}
