import CodexClient
import Foundation
import HistoryStore
import SyncEngine
import PeerHTTP
import WakuClient

/// One check of `community-history doctor`: what was checked, whether it passed, what was
/// seen, and, when it failed, the exact change that fixes it.
public struct CheckResult: Sendable, Codable, Equatable {
    public var name: String
    public var passed: Bool
    public var detail: String
    public var fix: String?

    public init(name: String, passed: Bool, detail: String, fix: String? = nil) {
        self.name = name
        self.passed = passed
        self.detail = detail
        self.fix = fix
    }

    static func pass(_ name: String, _ detail: String) -> CheckResult { CheckResult(name: name, passed: true, detail: detail, fix: nil) }
    static func fail(_ name: String, _ detail: String, fix: String) -> CheckResult { CheckResult(name: name, passed: false, detail: detail, fix: fix) }
}

/// The checks of the peers and the database a member's agent needs, each against the real
/// node's behaviour (nwaku and logos-storage-nim, as docs/real-network.md lists them): `doctor` runs them all; `sync` and
/// `agent` run them when a peer fails, to print the fix.
///
/// ```swift
/// let checks = PeerCheck(waku: waku, codex: codex, storePeer: nil)
/// for result in await checks.network(pubsubTopic: "/waku/2/rs/16/32") where !result.passed { print(result.fix!) }
/// ```
public struct PeerCheck: Sendable {
    public var waku: WakuClient
    public var codex: CodexClient
    public var storePeer: String?
    /// Free space a database and its downloads should have.
    public var minimumFreeBytes: Int64

    public init(waku: WakuClient, codex: CodexClient, storePeer: String?, minimumFreeBytes: Int64 = 100 << 20) {
        // One attempt each: a doctor reports what it sees now, it does not wait for a node to come up.
        var waku = waku
        waku.retry = .none
        var codex = codex
        codex.retry = .none
        self.waku = waku
        self.codex = codex
        self.storePeer = storePeer
        self.minimumFreeBytes = minimumFreeBytes
    }

    /// Every check of the two peers, in the order a user fixes them. `includeRelay`: the relay
    /// check subscribes the node to the shard (idempotent, drains nothing), which `doctor` and the
    /// agent want and a one-shot `sync` does not.
    public func network(pubsubTopic: String, includeRelay: Bool = true) async -> [CheckResult] {
        await waku(pubsubTopic: pubsubTopic, includeRelay: includeRelay) + codexChecks()
    }

    /// nwaku: health, then (only when it is READY: a starting node answers nothing else) the
    /// relay subscription and a store query.
    public func waku(pubsubTopic: String, includeRelay: Bool = true) async -> [CheckResult] {
        let health = await wakuHealth()
        guard health.passed else { return [health] }
        var results = [health]
        if includeRelay { results.append(await relay(pubsubTopic: pubsubTopic)) }
        results.append(await store(pubsubTopic: pubsubTopic))
        return results
    }

    /// The storage node (Logos Storage, formerly Codex): its REST API found and reachable,
    /// its generation, on the network, room in its quota.
    public func codexChecks() async -> [CheckResult] {
        let reachable = await codexReachable()
        guard let info = reachable.info else { return [reachable.result] }
        return [reachable.result, codexNetwork(info), await codexQuota()]
    }

    public func wakuHealth() async -> CheckResult {
        let name = "nwaku REST API reachable and READY"
        do {
            let health = try await waku.health()
            guard health.isReady else {
                return .fail(name, "\(waku.baseURL) answers nodeHealth \(health.nodeHealth ?? "(none)")",
                             fix: "wait until nwaku reports READY (GET \(waku.baseURL)health); if it stays so, check its log for relay/store mount errors")
            }
            return .pass(name, "\(waku.baseURL) nodeHealth READY")
        } catch {
            return .fail(name, "\(error)",
                         fix: "start nwaku with --rest=true --rest-address=127.0.0.1 --rest-port=8645, or pass --waku-url with its REST address")
        }
    }

    /// Subscribing is idempotent and drains nothing, so it is safe beside a running agent.
    public func relay(pubsubTopic: String) async -> CheckResult {
        let name = "relay subscribed to \(pubsubTopic)"
        do {
            try await waku.subscribe(pubsubTopics: [pubsubTopic])
            return .pass(name, "POST /relay/v1/subscriptions accepted \(pubsubTopic)")
        } catch {
            return .fail(name, "\(error)", fix: RelayFix.subscribe(shards: [pubsubTopic]))
        }
    }

    /// A one-message query on an archive-channel-shaped topic: answers only when a store peer is set.
    public func store(pubsubTopic: String) async -> CheckResult {
        let name = "store query answers"
        let query = StoreQuery(pubsubTopic: pubsubTopic, contentTopics: ["/waku/1/0x00000000/rfc26"], pageSize: 1, peerAddr: storePeer)
        do {
            _ = try await waku.store(query)
            return .pass(name, storePeer.map { "store peer \($0) answered" } ?? "the node's own store peer answered")
        } catch let error as StoreError {
            return .fail(name, "\(error)", fix: error.fix ?? "check that the store peer is reachable from the nwaku node")
        } catch let error as PeerError where error.kind == .invalidResponse {
            // The node answered, with something that is not a store page: not a missing store
            // peer (issue 27), but the wrong service or path behind --waku-url.
            return .fail(name, "\(error)",
                         fix: "\(waku.baseURL) answered the store query with something that is not nwaku's store API "
                            + "(GET /store/v3/messages): check that --waku-url is nwaku's REST address (--rest-port, 8645 by default)")
        } catch {
            return .fail(name, "\(error)", fix: storePeer.map { "check that the store peer \($0) is reachable from the nwaku node and runs the store protocol" }
                ?? StoreError.noStorePeer(detail: "").fix ?? "")
        }
    }

    /// How to turn a storage node's REST API on: off by default since 2026 (logos-storage-nim
    /// `storage/conf.nim`: `--api-bindaddr` is hidden and unset, `--api-port` 8080).
    public static let storageAPIFix = "start the storage node with --api-bindaddr=127.0.0.1 --api-port=8080 (Logos Storage "
        + "serves no REST API unless told to), or pass --storage-url with its REST address"

    public func codexReachable() async -> (result: CheckResult, info: CodexNodeInfo?) {
        let name = "storage node REST API reachable"
        do {
            let prefix = try await codex.apiPrefix()
            let info = try await codex.debugInfo()
            let version = info.nodeVersion?.version.map { " \($0)" } ?? ""
            let how = codex.pinnedPrefix == nil ? "found" : "pinned"
            return (.pass(name, "\(codex.baseURL) is \(prefix.nodeName)\(version), REST under \(prefix) (\(how)), node \(info.id ?? "?"); "
                + "it must be of the same generation as the community's control node's (Logos Storage finds peers with "
                + "Kademlia, the 2025 Codex node with its UDP DHT: they do not see each other)"), info)
        } catch {
            return (.fail(name, "\(error)", fix: Self.storageAPIFix), nil)
        }
    }

    /// A node with no peers cannot find (or serve) anything. The 2025 node also had to announce
    /// an address; Logos Storage's `/debug/info` has no `announceAddresses` (its addresses are
    /// in `addrs` and its routing table's nodes).
    public func codexNetwork(_ info: CodexNodeInfo) -> CheckResult {
        let name = "storage node joined the network"
        if info.announceAddresses == nil {
            guard info.peerCount > 0 else {
                return .fail(name, "no peers in its routing table (addresses \(info.addrs ?? []))",
                             fix: "start the storage node with the --network preset (or --bootstrap-node) of the storage network the "
                                + "community's control node uses, and a reachable --listen-addrs/--nat")
            }
            return .pass(name, "\(info.peerCount) peer(s) in its routing table, listening on \((info.addrs ?? []).joined(separator: ", "))")
        }
        let announce = info.announceAddresses ?? []
        guard info.peerCount > 0, !announce.isEmpty else {
            return .fail(name, "\(info.peerCount) DHT peer(s), announce addresses \(announce)",
                         fix: "start the Codex node with --bootstrap-node=<SPR of the storage network the community's control node uses> "
                            + "and a reachable --nat/--listen-addrs, so it has peers and announces an address")
        }
        return .pass(name, "\(info.peerCount) DHT peer(s), announcing \(announce.joined(separator: ", "))")
    }

    public func codexQuota() async -> CheckResult {
        let name = "storage node quota has room"
        do {
            let space = try await codex.space()
            guard space.freeBytes >= minimumFreeBytes else {
                return .fail(name, "\(space.freeBytes) bytes free of \(space.quotaMaxBytes)",
                             fix: "start the storage node with a larger --storage-quota (archives are stored on the node as they download)")
            }
            return .pass(name, "\(space.freeBytes >> 20) MiB free of \(space.quotaMaxBytes >> 20) MiB")
        } catch {
            return .fail(name, "\(error)", fix: "check the storage node's log: GET /space failed")
        }
    }

    /// The database: its schema version as found (read without changing it), that it takes a
    /// write (or, when it does not exist yet, that its directory is writable), and disk room.
    ///
    /// `createdDirectory`: the directory `sync` and the agent create when it is missing (the
    /// default data directory); any other missing directory is a failure, as it is for them.
    public static func database(path: String, minimumFreeBytes: Int64 = 100 << 20, createdDirectory: String? = nil) -> [CheckResult] {
        var results: [CheckResult] = []
        let known = HistoryDatabase.knownMigrations
        let found: [String]?
        do { found = try HistoryDatabase.schemaVersions(atPath: path) } catch {
            return [.fail("database readable", "\(error)", fix: "\(path) is not a history database: pass --db with another path, or move it away")]
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        if let found {
            let unknown = found.filter { !known.contains($0) }
            if unknown.isEmpty {
                let pending = known.count - found.count
                results.append(.pass("database schema", "version \(found.last ?? "none") (\(found.count) of \(known.count) migrations applied"
                    + (pending > 0 ? "; sync and agent apply the other \(pending))" : ")")))
            } else {
                results.append(.fail("database schema", "written by a newer community-history (\(unknown.joined(separator: ", ")))",
                                     fix: "upgrade community-history, or pass --db with another database"))
            }
            do {
                try HistoryDatabase(path: path, busyTimeout: 2).checkWritable()
                results.append(.pass("database writable", path))
            } catch {
                results.append(.fail("database writable", "\(error)",
                                     fix: "make \(path) writable, or close the program holding a write lock on it"))
            }
        } else if FileManager.default.isWritableFile(atPath: directory.path) {
            results.append(.pass("database writable", "\(path) does not exist yet; \(directory.path) is writable"))
        } else if let createdDirectory, URL(fileURLWithPath: createdDirectory).standardizedFileURL.path == directory.standardizedFileURL.path,
                  let existing = nearestExistingDirectory(of: directory), FileManager.default.isWritableFile(atPath: existing.path) {
            // sync and the agent create the default data directory (on a fresh machine it does
            // not exist yet).
            results.append(.pass("database writable", "\(path) and \(directory.path) do not exist yet; sync and agent will create them "
                + "(\(existing.path) is writable)"))
        } else {
            results.append(.fail("database writable", "\(path) does not exist and \(directory.path) is not a writable directory",
                                 fix: "pass --db with a path in a writable directory"))
        }
        // Measured where the database will be: its directory, or the nearest one that exists.
        let measured = nearestExistingDirectory(of: directory) ?? directory
        switch DiskSpace.available(at: measured) {
        case let free? where free < minimumFreeBytes:
            results.append(.fail("free disk space", "\(free >> 20) MiB free at \(measured.path)",
                                 fix: "free disk space or move the database (--db) and archives to a larger disk"))
        case let free?:
            results.append(.pass("free disk space", "\(free >> 20) MiB free at \(measured.path)"))
        case nil:
            results.append(.fail("free disk space", "unknown: statfs failed at \(measured.path)",
                                 fix: "check that \(measured.path) is on a mounted, readable file system, or pass --db with another path"))
        }
        return results
    }

    /// `directory` or its nearest ancestor that exists; nil when that is not a directory (a
    /// file in the way: nothing can be created under it).
    static func nearestExistingDirectory(of directory: URL) -> URL? {
        var current = directory.standardizedFileURL
        for _ in 0..<64 {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: current.path, isDirectory: &isDirectory) {
                return isDirectory.boolValue ? current : nil
            }
            let parent = current.deletingLastPathComponent()
            if parent.path == current.path { return nil }
            current = parent
        }
        return nil
    }
}
