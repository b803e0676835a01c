import CodexClient
import Foundation
import StatusCrypto
import SyncEngine
import HistoryStore
import PeerHTTP
import StatusWire
import WakuClient

/// The `agent --config FILE` file (JSON). Example: `examples/agent.json`; reference: README.
///
/// ```json
/// {
///   "storageURL": "http://127.0.0.1:8080",
///   "wakuURL": "http://127.0.0.1:8645",
///   "database": "history.sqlite",
///   "communities": [
///     {"id": "0x02…", "mode": "all"},
///     {"id": "0x03…", "mode": "range", "from": "2026-01-01", "to": "2026-07-01", "hydration": "merge"}
///   ]
/// }
/// ```
public struct AgentConfiguration: Codable, Sendable, Equatable {
    public struct Community: Codable, Sendable, Equatable {
        public var id: String
        /// `all`, `latest` or `range` (with `from`/`to`).
        public var mode: String?
        public var from: String?
        public var to: String?
        /// `replace` (default) or `merge`.
        public var hydration: HydrationMode?
        /// Quiet window after the last announcement, seconds (default 20).
        public var settleSeconds: Double?
        public var concurrency: Int?
        /// The pubsub topic the community publishes on (its description's shard); default the
        /// configuration's `pubsubTopic`.
        public var pubsubTopic: String?

        public init(id: String, mode: String? = nil, from: String? = nil, to: String? = nil, hydration: HydrationMode? = nil,
                    settleSeconds: Double? = nil, concurrency: Int? = nil, pubsubTopic: String? = nil) {
            self.pubsubTopic = pubsubTopic
            self.id = id
            self.mode = mode
            self.from = from
            self.to = to
            self.hydration = hydration
            self.settleSeconds = settleSeconds
            self.concurrency = concurrency
        }
    }

    /// The storage node (Logos Storage, formerly Codex): its address, or its REST API in full
    /// (`…/api/storage/v1` or `…/api/codex/v1`, which pins the API). Default http://127.0.0.1:8080.
    public var storageURL: String?
    /// The name `storageURL` had before the node was renamed; still read. Giving both with
    /// different values is an error.
    public var codexURL: String?
    /// Pins the storage node's REST API prefix (`/api/storage/v1` or `/api/codex/v1`) instead of
    /// probing for it.
    public var storageAPI: StorageAPIPrefix?
    public var wakuURL: String?
    public var database: String?
    /// Where downloads wait for import (default: `<database>.archives`).
    public var archivesDirectory: String?
    /// The pubsub topic of every community that names none (default `/waku/2/rs/16/32`, where
    /// Status communities publish): the relay subscription and the store queries use it.
    public var pubsubTopic: String?
    /// The store node to query (a multiaddr), sent as `peerAddr`; without it the nwaku node must
    /// have one of its own (`--storenode`).
    public var storePeer: String?
    /// Seconds between relay polls (default 2).
    public var relayPollSeconds: Double?
    /// Seconds between store catch-up queries (default 300); each covers the last `catchUpHours`.
    public var storeCatchUpSeconds: Double?
    public var catchUpHours: Double?
    /// Local port (127.0.0.1) for `/health` and `/metrics`; absent: no server; 0: any free port.
    public var metricsPort: Int?
    /// Extra free disk space to keep beyond what downloads need, bytes (default 100 MiB).
    public var diskMarginBytes: Int64?
    /// How long a write waits for a lock a chat client holds, seconds (default 10).
    public var databaseBusyTimeoutSeconds: Double?
    /// Optional cap on download bandwidth, bytes per second (all communities together), held
    /// chunk by chunk over each download's stream.
    public var maxDownloadBytesPerSecond: Int64?
    /// The slowest a download may be, bytes per second averaged over 64 s (default 1024; 0: no
    /// minimum). A node under it (stalled on a block it cannot find, trickling) is left for later.
    public var minDownloadBytesPerSecond: Int64?
    /// The local API's Unix socket (default `<database>.sock`; `""` turns it off). Relative to
    /// the configuration file, like `database`.
    public var apiSocket: String?
    /// Also serve the local API on 127.0.0.1 at this port (0: any free port), with a bearer
    /// token from the cookie file `<database>.cookie`; absent: the socket only.
    public var apiPort: Int?
    /// The communities the configuration follows (the local API can join more at runtime).
    public var communities: [Community]

    /// The Codex client's minimum transfer rate for `minDownloadBytesPerSecond`.
    public var minimumTransferRate: MinimumTransferRate? {
        guard let bytes = minDownloadBytesPerSecond else { return .default }
        return bytes == 0 ? nil : MinimumTransferRate(bytesPerSecond: bytes, window: MinimumTransferRate.default.window)
    }

    /// The storage node's URL in force: `storageURL`, else the older `codexURL`, else the default.
    public var storageNodeURL: String { storageURL ?? codexURL ?? "http://127.0.0.1:8080" }

    public init(storageURL: String? = nil, codexURL: String? = nil, storageAPI: StorageAPIPrefix? = nil, wakuURL: String? = nil, database: String? = nil, archivesDirectory: String? = nil,
                pubsubTopic: String? = nil, relayPollSeconds: Double? = nil, storeCatchUpSeconds: Double? = nil,
                catchUpHours: Double? = nil, metricsPort: Int? = nil, diskMarginBytes: Int64? = nil,
                databaseBusyTimeoutSeconds: Double? = nil, maxDownloadBytesPerSecond: Int64? = nil, storePeer: String? = nil,
                apiSocket: String? = nil, apiPort: Int? = nil, communities: [Community]) {
        self.apiSocket = apiSocket
        self.apiPort = apiPort
        self.storePeer = storePeer
        self.storageURL = storageURL
        self.codexURL = codexURL
        self.storageAPI = storageAPI
        self.wakuURL = wakuURL
        self.database = database
        self.archivesDirectory = archivesDirectory
        self.pubsubTopic = pubsubTopic
        self.relayPollSeconds = relayPollSeconds
        self.storeCatchUpSeconds = storeCatchUpSeconds
        self.catchUpHours = catchUpHours
        self.metricsPort = metricsPort
        self.diskMarginBytes = diskMarginBytes
        self.databaseBusyTimeoutSeconds = databaseBusyTimeoutSeconds
        self.maxDownloadBytesPerSecond = maxDownloadBytesPerSecond
        self.communities = communities
    }

    /// Reads, checks and validates a configuration file. Unknown keys are errors (with the
    /// nearest known key); a JSON syntax error says where; `database` and `archivesDirectory`
    /// given as relative paths are relative to the file's directory, not the working directory.
    /// A file that names no `database` gets `defaultDatabase` (the command's XDG default), or,
    /// without one, `history.sqlite` beside the file.
    public static func load(path: String, defaultDatabase: String? = nil) throws -> AgentConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AgentConfigurationError("cannot read the configuration file \(path)")
        }
        do { try ConfigurationKeys.check(data, file: path) } catch let error as AgentConfigurationError { throw error } catch {
            // The parser says where ("… around line 3, column 21."), or gives the byte offset.
            let info = (error as NSError).userInfo
            let detail = info[NSDebugDescriptionErrorKey] as? String ?? (error as NSError).localizedDescription
            // Foundation on Linux gives the offset only in its text ("… around character 103."):
            // read it there to show a line and column (for the message alone, nothing decides on it).
            let offset = info["NSJSONSerializationErrorIndex"] as? Int
                ?? detail.firstRange(of: "around character ").flatMap { Int(detail[$0.upperBound...].prefix { $0.isNumber }) }
            throw AgentConfigurationError("\(path) is not valid JSON\(offset.map { " at \(ConfigurationKeys.position(of: $0, in: data))" } ?? ""): \(detail)")
        }
        var configuration: AgentConfiguration
        do { configuration = try JSONDecoder().decode(AgentConfiguration.self, from: data) } catch let DecodingError.typeMismatch(type, context),
                                                                                              let DecodingError.valueNotFound(type, context) {
            let key = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingPrefix(".")
            throw AgentConfigurationError("\(path): \"\(key)\" must be \(type) (\(context.debugDescription))")
        } catch {
            throw AgentConfigurationError("\(path) is not a valid agent configuration: \(error)")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolved(_ file: String?) -> String? {
            guard let file, !file.hasPrefix("/") else { return file }
            return directory.appendingPathComponent(file).standardizedFileURL.path
        }
        configuration.database = resolved(configuration.database ?? defaultDatabase ?? "history.sqlite")
        configuration.archivesDirectory = resolved(configuration.archivesDirectory)
        if configuration.apiSocket != "" { configuration.apiSocket = resolved(configuration.apiSocket) }
        try configuration.validate()
        return configuration
    }

    public func validate() throws {
        // No communities is fine: a chat client joins them through the local API.
        // Byte counts too: validateBandwidth multiplies them, and an Int64 near its top trapped.
        for (name, value, range) in [("maxDownloadBytesPerSecond", maxDownloadBytesPerSecond, Self.bytesPerSecondRange),
                                     ("minDownloadBytesPerSecond", minDownloadBytesPerSecond, 0...Self.bytesPerSecondRange.upperBound),
                                     ("diskMarginBytes", diskMarginBytes, Self.diskMarginRange)] {
            if let value, !range.contains(value) {
                throw AgentConfigurationError("\(name) must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
            }
        }
        try validateBandwidth()
        // Each number is checked against a range where it enters: a zero interval would poll in
        // a busy loop, and one past what a Duration or an Int64 holds (1e19) used to trap the
        // agent where it was converted.
        for (name, value, range) in [("relayPollSeconds", relayPollSeconds, SecondsSetting.relayPoll),
                                     ("storeCatchUpSeconds", storeCatchUpSeconds, SecondsSetting.storeCatchUp),
                                     ("catchUpHours", catchUpHours, Self.catchUpHoursRange),
                                     ("databaseBusyTimeoutSeconds", databaseBusyTimeoutSeconds, SecondsSetting.busyTimeout)] {
            if let value {
                do { try SecondsSetting.check(value, name, in: range) } catch { throw AgentConfigurationError("\(error)") }
            }
        }
        if let metricsPort, !(0...65_535).contains(metricsPort) { throw AgentConfigurationError("metricsPort must be 0...65535, not \(metricsPort)") }
        if let apiPort, !(0...65_535).contains(apiPort) { throw AgentConfigurationError("apiPort must be 0...65535, not \(apiPort)") }
        for url in [storageURL, codexURL, wakuURL].compactMap({ $0 }) where URL(string: url)?.host == nil {
            throw AgentConfigurationError("\(url) is not a URL")
        }
        if let storageURL, let codexURL, storageURL != codexURL {
            throw AgentConfigurationError("storageURL \(storageURL) and codexURL \(codexURL) disagree: codexURL is the old name of "
                + "storageURL; keep one")
        }
        if let storageAPI, let written = StorageAPIPrefix.split(URL(string: storageNodeURL)!).prefix, written != storageAPI {
            throw AgentConfigurationError("storageAPI \(storageAPI) disagrees with the API path in \(storageNodeURL); keep one")
        }
        if let storePeer, !storePeer.hasPrefix("/") {
            throw AgentConfigurationError("storePeer \"\(storePeer)\" is not a multiaddr (like /dns4/host/tcp/30303/p2p/16Uiu2…)")
        }
        var seen = Set<CommunityID>()
        for community in communities {
            let id = try validate(community)
            guard seen.insert(id).inserted else {
                throw AgentConfigurationError("community \(community.id) is listed twice")
            }
        }
    }

    /// The cap is shared by every download of every community (`concurrency` each, 3 by default):
    /// each must still get twice the minimum rate, or the cap itself would make every download
    /// "too slow" and retried for ever.
    public func validateBandwidth() throws {
        guard let cap = maxDownloadBytesPerSecond, let minimum = minimumTransferRate?.bytesPerSecond else { return }
        let downloads = max(1, communities.map { Int64($0.concurrency ?? 3) }.reduce(0, +))
        if cap < 2 * minimum * downloads {
            throw AgentConfigurationError("maxDownloadBytesPerSecond (\(cap)) must be at least twice minDownloadBytesPerSecond (\(minimum)) "
                + "for each of the \(downloads) downloads the communities may run at once (\(2 * minimum * downloads)): raise the cap, "
                + "lower the communities' concurrency, or lower or turn off (0) the minimum")
        }
    }

    /// How far back the store catch-up reads, hours (a store keeps 30 days; a year is plenty).
    public static let catchUpHoursRange: ClosedRange<Double> = 0.01...8_760
    /// Downloads one community runs at once.
    public static let concurrencyRange = CommunitySyncMachine.Configuration.concurrentDownloadsRange
    /// A download rate, bytes per second: up to 1 TiB/s (0 for the minimum turns it off).
    public static let bytesPerSecondRange: ClosedRange<Int64> = 1...(1 << 40)
    /// Free disk space kept beyond what downloads need: up to 1 PiB.
    public static let diskMarginRange: ClosedRange<Int64> = 0...(1 << 50)

    /// Checks one community's settings (in the file, or joined through the API) and returns its ID.
    @discardableResult
    public func validate(_ community: Community) throws -> CommunityID {
        let id = try community.communityID()
        _ = try community.selection()
        if let concurrency = community.concurrency, !Self.concurrencyRange.contains(concurrency) {
            throw AgentConfigurationError("community \(community.id): concurrency must be between \(Self.concurrencyRange.lowerBound) "
                + "and \(Self.concurrencyRange.upperBound), not \(concurrency)")
        }
        if let settle = community.settleSeconds {
            do { try SecondsSetting.check(settle, "settleSeconds", in: SecondsSetting.settle) } catch {
                throw AgentConfigurationError("community \(community.id): \(error)")
            }
        }
        let topic = pubsubTopic(of: community)
        guard PubsubTopic.isStaticShard(topic) else {
            throw AgentConfigurationError("community \(community.id): pubsub topic \"\(topic)\" is not a static shard like /waku/2/rs/16/32")
        }
        return id
    }
}

extension AgentConfiguration {
    /// The database's path, default filled in.
    public var databasePath: String { database ?? "history.sqlite" }
    /// The local API's socket, nil when turned off (`"apiSocket": ""`).
    public var apiSocketPath: String? { apiSocket == "" ? nil : (apiSocket ?? databasePath + ".sock") }
    /// The file holding the TCP listener's bearer token (written at start, mode 0600).
    public var cookiePath: String { databasePath + ".cookie" }
}

extension AgentConfiguration.Community {
    /// Decodes one community's settings from JSON (a join through the local API), refusing
    /// unknown keys as a configuration file does (a misspelt `"hydraton"` must not join with
    /// replace mode). Throws `AgentConfigurationError` or a `DecodingError`.
    public static func decodeChecked(_ data: Data) throws -> AgentConfiguration.Community {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw AgentConfigurationError("the body must be a JSON object with an \"id\"")
        }
        try ConfigurationKeys.checkCommunity(object)
        return try JSONDecoder().decode(AgentConfiguration.Community.self, from: data)
    }

    /// The community's ID, parsed (the file may spell it in any case).
    public func communityID() throws -> CommunityID {
        do { return try CommunityID(id) } catch let error as CommunityIDError {
            throw AgentConfigurationError("community: \(error)")
        }
    }

    public func selection() throws -> ArchiveSelection {
        switch mode ?? "all" {
        case "all": return .all
        case "latest": return .latest
        case "range":
            guard let from, let to, let start = DateParsing.unixSeconds(from), let end = DateParsing.unixSeconds(to), start < end else {
                throw AgentConfigurationError("community \(id): mode range needs \"from\" < \"to\" (dates like 2026-01-01)")
            }
            return .range(from: start, to: end)
        case let other:
            throw AgentConfigurationError("community \(id): unknown mode \"\(other)\" (all, latest or range)")
        }
    }
}

extension AgentConfiguration {
    /// The pubsub topic `community` is followed on.
    public func pubsubTopic(of community: Community) -> String {
        community.pubsubTopic ?? pubsubTopic ?? WakuClient.defaultPubsubTopic
    }
}

extension AgentConfiguration {
    /// The settings in force, defaults filled in, one per line (printed when the agent starts).
    public var effectiveSettings: String {
        var lines = [
            "storageURL \(storageNodeURL)", "storageAPI \(storageAPI.map(\.rawValue) ?? "(probed: /api/storage/v1, then /api/codex/v1)")",
            "wakuURL \(wakuURL ?? "http://127.0.0.1:8645")",
            "database \(database ?? "history.sqlite")", "archivesDirectory \(archivesDirectory ?? (database ?? "history.sqlite") + ".archives")",
            "pubsubTopic \(pubsubTopic ?? WakuClient.defaultPubsubTopic)", "storePeer \(storePeer ?? "(the nwaku node's --storenode)")",
            "relayPollSeconds \(relayPollSeconds ?? 2)", "storeCatchUpSeconds \(storeCatchUpSeconds ?? 300)", "catchUpHours \(catchUpHours ?? 24)",
            "metricsPort \(metricsPort.map(String.init) ?? "(none)")", "diskMarginBytes \(diskMarginBytes ?? 100 << 20)",
            "databaseBusyTimeoutSeconds \(databaseBusyTimeoutSeconds ?? 10)",
            "maxDownloadBytesPerSecond \(maxDownloadBytesPerSecond.map(String.init) ?? "(no cap)")",
            "apiSocket \(apiSocketPath ?? "(off)")", "apiPort \(apiPort.map { "\($0) (127.0.0.1, token in \(cookiePath))" } ?? "(socket only)")",
            "minDownloadBytesPerSecond \(minimumTransferRate.map { "\($0.bytesPerSecond) (over \($0.window.components.seconds) s)" } ?? "0 (no minimum)")",
        ]
        for community in communities {
            lines.append("community \(community.id): mode \(community.mode ?? "all")"
                + (community.mode == "range" ? " \(community.from ?? "?")..\(community.to ?? "?")" : "")
                + ", hydration \((community.hydration ?? .replace).rawValue), settleSeconds \(community.settleSeconds ?? 20)"
                + ", concurrency \(community.concurrency ?? 3), pubsubTopic \(pubsubTopic(of: community))")
        }
        return lines.joined(separator: "\n")
    }
}

public struct AgentConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

