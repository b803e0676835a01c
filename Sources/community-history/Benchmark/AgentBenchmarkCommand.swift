import AgentService
import ArgumentParser
import CodexClient
import ControlNode
import DemoNetwork
import Fixtures
import Foundation
import HistoryStore
import PeerHTTP
import Synchronization
import WakuClient

/// `benchmark agent`: one agent following N small communities, all served by one demo network,
/// measured from outside through `/proc` and the demo nodes' counters: what each community
/// costs the agent (CPU, memory, threads, open files, store and relay requests), how soon its
/// API answers, how fast its community list is, and what a restart redoes.
struct AgentBenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run an agent on N generated communities served by the demo nodes and print what it costs per community.",
        discussion: """
            For each --communities N: generates N communities (--weeks weekly archives of \
            --messages-per-week messages each; reused across sizes), publishes them on one demo \
            storage node and one demo nwaku node, starts `community-history agent` on them in a \
            fresh database under a --file-limit descriptor limit, and waits until every index is \
            processed. Then it reads the API (the whole list, a page, one community, the status \
            page), counts store and relay requests while idle, and restarts the agent to see what \
            the restart redoes. CPU, memory, threads and open files are the agent's, from /proc.
            """
    )

    @Option(name: .customLong("communities"), help: "Communities to follow (repeatable; default 1, 10 and 100).")
    var sizes: [Int] = [1, 10, 100]

    @Option(help: "Weekly archives per community.")
    var weeks = 6

    @Option(help: "Messages per weekly archive.")
    var messagesPerWeek = 350

    @Option(help: "The agent's open-file limit (applied with prlimit when it is installed).")
    var fileLimit = 1024

    @Option(help: "Seconds to watch the synced agent idle (store and relay requests per minute).")
    var idleSeconds = 30

    @Option(help: "Give up on a size when its communities are not synced after this many seconds.")
    var timeoutSeconds = 1800

    @Option(help: "The community-history binary whose agent is measured (default: this one), to compare two builds with the same benchmark.")
    var agentBinary: String?

    @Option(help: "Working directory (default: a new temporary directory, removed at the end).")
    var workDir: String?

    @Flag(help: "Print the results as JSON.")
    var json = false

    func validate() throws {
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--communities must be at least 1") }
        guard weeks >= 1, messagesPerWeek >= 1 else { throw ValidationError("--weeks and --messages-per-week must be at least 1") }
        guard fileLimit >= 64 else { throw ValidationError("--file-limit must be at least 64") }
        guard idleSeconds >= 1, timeoutSeconds >= 1 else { throw ValidationError("--idle-seconds and --timeout-seconds must be at least 1") }
        if let agentBinary, !FileManager.default.isExecutableFile(atPath: agentBinary) {
            throw ValidationError("--agent-binary: \(agentBinary) is not an executable file")
        }
    }

    func run() async throws {
        let base = URL(fileURLWithPath: workDir ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("community-history-agent-benchmark-\(getpid())").path)
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { if workDir == nil { try? FileManager.default.removeItem(at: base) } }
        var results: [AgentBenchmarkResult] = []
        for size in sizes {
            let fixtures = try generateFixtures(count: size, in: base.appendingPathComponent("fixtures"))
            results.append(try await measure(fixtures: fixtures, in: base.appendingPathComponent("run-\(size)")))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            AgentBenchmarkResult.printTable(results)
            print("build: \(BenchmarkCommand.Run.buildConfiguration); cores: \(ProcessInfo.processInfo.activeProcessorCount); "
                  + "file limit: \(fileLimit)\(prlimit == nil ? " (prlimit not found: the inherited limit)" : ""); "
                  + "\(weeks) archives of \(messagesPerWeek) messages per community")
        }
    }

    private var prlimit: String? {
        ["/usr/bin/prlimit", "/bin/prlimit"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private func status(_ line: String) {
        if !json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    // MARK: Fixtures

    /// Community `i` is seed `i + 1000`, in `fixtures/<seed>`: made once, reused by every size.
    private func generateFixtures(count: Int, in directory: URL) throws -> [URL] {
        let urls = (0..<count).map { directory.appendingPathComponent("\($0 + 1000)-\(weeks)x\(messagesPerWeek)") }
        let missing = urls.enumerated().filter { !FileManager.default.fileExists(atPath: $0.element.appendingPathComponent("manifest.json").path) }
        guard !missing.isEmpty else { return urls }
        status("generating \(missing.count) communities…")
        let failures = Failures()
        let (weekCount, perWeek) = (weeks, messagesPerWeek)
        DispatchQueue.concurrentPerform(iterations: missing.count) { item in
            let (index, url) = missing[item]
            do {
                try? FileManager.default.removeItem(at: url)
                try FixtureGenerator(configuration: .init(seed: UInt64(index + 1000), weeks: weekCount, messagesPerWeek: perWeek)).write(to: url)
            } catch {
                failures.add("\(url.lastPathComponent): \(error)")
            }
        }
        if let first = failures.first { throw ValidationError("cannot generate the communities: \(first)") }
        return urls
    }

    // MARK: One size

    private func measure(fixtures: [URL], in directory: URL) async throws -> AgentBenchmarkResult {
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let publishers = try fixtures.map { try CommunityPublisher(fixture: try FixtureDirectory(url: $0)) }
        let codexNode = try await DemoCodexNode.start(directory: directory.appendingPathComponent("storage-node"))
        let wakuNode = try await DemoWakuNode.start(maxPageSize: 20)
        defer { Task { await codexNode.stop(); await wakuNode.stop() } }
        status("publishing \(publishers.count) communities…")
        let (codex, waku) = (CodexClient(baseURL: codexNode.baseURL), WakuClient(baseURL: wakuNode.baseURL))
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        for publisher in publishers {
            try await publisher.uploadBlobs(to: codex)
            try await publisher.announce(on: waku, clock: now)
            try await publisher.describe(on: waku, clock: now)
        }
        let port = try Self.freePort()
        let database = directory.appendingPathComponent("history.sqlite").path
        let configuration = AgentConfiguration(
            storageURL: codexNode.baseURL.absoluteString, wakuURL: wakuNode.baseURL.absoluteString, database: database,
            relayPollSeconds: 1, storeCatchUpSeconds: 10, apiPort: port,
            communities: publishers.map { .init(id: $0.community.communityID.string, settleSeconds: 3) })
        let configPath = directory.appendingPathComponent("agent.json").path
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(configuration).write(to: URL(fileURLWithPath: configPath))

        var result = AgentBenchmarkResult(communities: publishers.count)
        let api = APIProbe(port: port, cookiePath: database + ".cookie", communityID: publishers[0].community.communityID.string)
        let storeBefore = await wakuNode.storeQueryCount()

        // The first run: from nothing to every community synced.
        status("agent on \(publishers.count) communities: syncing…")
        var agent = try launchAgent(config: configPath, log: directory.appendingPathComponent("agent-1.log").path)
        var watch = ProcessWatch(pid: agent.processIdentifier)
        var sampling = Self.sample(watch)
        let clock = ContinuousClock()
        let started = clock.now
        result.cpuBeforeAPI = try await api.waitUntilAnswering(watch: watch, deadline: started + .seconds(timeoutSeconds))
        let history = try HistoryDatabase(path: database, readOnly: true)
        let deadline = started + .seconds(timeoutSeconds)
        while try await history.communitiesSynced() < publishers.count {
            guard clock.now < deadline, agent.isRunning else {
                stop(agent)
                throw ValidationError("\(publishers.count) communities: not synced after \(timeoutSeconds) s (agent log: \(directory.path)/agent-1.log)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        result.syncedAfter = (clock.now - started).inSeconds
        result.cpuToSynced = watch.sample()?.cpuSeconds ?? watch.peaks.cpuSeconds
        result.storeQueriesToSynced = await wakuNode.storeQueryCount() - storeBefore

        // Idle: what the agent asks of the nodes when there is nothing to do.
        status("synced after \(String(format: "%.1f", result.syncedAfter)) s; watching it idle for \(idleSeconds) s…")
        let (storeIdle, relayIdle, codexIdle) = (await wakuNode.storeQueryCount(), await wakuNode.relayReadCount(), await codexNode.requestCount())
        try await Task.sleep(for: .seconds(idleSeconds))
        let minutes = Double(idleSeconds) / 60
        result.storeQueriesPerMinuteIdle = Double(await wakuNode.storeQueryCount() - storeIdle) / minutes
        result.relayReadsPerMinuteIdle = Double(await wakuNode.relayReadCount() - relayIdle) / minutes
        result.storageRequestsIdle = await codexNode.requestCount() - codexIdle

        // The API, synced.
        result.listAllMs = try await api.medianMilliseconds(path: "/v1/communities")
        result.listPageMs = try await api.medianMilliseconds(path: "/v1/communities?limit=50")
        result.oneCommunityMs = try await api.medianMilliseconds(path: "/v1/communities/\(api.communityID)")
        result.statusPageMs = try await api.medianMilliseconds(path: "/")
        let peaks = watch.peaks
        (result.peakResidentMiB, result.peakThreads, result.peakOpenFiles) = (peaks.residentMiB, peaks.threads, peaks.openFiles)
        stop(agent)
        _ = await sampling.value

        // A restart: the same configuration and database; nothing new was published.
        status("restarting the agent…")
        let (storeRestart, codexRestart) = (await wakuNode.storeQueryCount(), await codexNode.requestCount())
        agent = try launchAgent(config: configPath, log: directory.appendingPathComponent("agent-2.log").path)
        watch = ProcessWatch(pid: agent.processIdentifier)
        sampling = Self.sample(watch)
        let restarted = clock.now
        result.restartCPUBeforeAPI = try await api.waitUntilAnswering(watch: watch, deadline: restarted + .seconds(timeoutSeconds))
        // Long enough for every community's settle window and a first catch-up to have run.
        try await Task.sleep(for: .seconds(15))
        result.restartStoreQueries = await wakuNode.storeQueryCount() - storeRestart
        result.restartStorageRequests = await codexNode.requestCount() - codexRestart
        result.restartCPU = watch.sample()?.cpuSeconds ?? watch.peaks.cpuSeconds
        stop(agent)
        _ = await sampling.value
        return result
    }

    private static func sample(_ watch: ProcessWatch) -> Task<Void, Never> {
        Task { await watch.run() }
    }

    private func launchAgent(config: String, log: String) throws -> Process {
        let executable = agentBinary ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        guard FileManager.default.createFile(atPath: log, contents: nil) else { throw ValidationError("cannot create \(log)") }
        let process = Process()
        if let prlimit {
            // prlimit sets the limit and execs the agent: the same process, the limit its own.
            process.executableURL = URL(fileURLWithPath: prlimit)
            process.arguments = ["--nofile=\(fileLimit):\(fileLimit)", executable, "agent", "--config", config]
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["agent", "--config", config]
        }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = output
        process.standardError = output
        try process.run()
        return process
    }

    /// SIGTERM, then waits for the exit (SIGKILL after 30 s).
    private func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw ValidationError("cannot open a socket to find a free port") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw ValidationError("cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Errors of the fixture generation's threads, the first one kept.
private final class Failures: Sendable {
    private let errors = Mutex<[String]>([])
    func add(_ error: String) { errors.withLock { $0.append(error) } }
    var first: String? { errors.withLock { $0.first } }
}

/// The agent's local API as the benchmark reads it: on 127.0.0.1 with the bearer token.
private struct APIProbe {
    let port: Int
    let cookiePath: String
    let communityID: String
    private let transport = AsyncHTTPClientTransport()

    init(port: Int, cookiePath: String, communityID: String) {
        self.port = port
        self.cookiePath = cookiePath
        self.communityID = communityID
    }

    private func get(_ path: String) async throws -> Int {
        let token = (try? String(contentsOfFile: cookiePath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let response = try await transport.send(HTTPRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!,
                                                            headers: ["Authorization": "Bearer \(token)"], timeout: .seconds(60)))
        return response.status
    }

    /// Polls every 20 ms until a request to the API succeeds, and returns the agent's CPU
    /// seconds at that moment.
    func waitUntilAnswering(watch: ProcessWatch, deadline: ContinuousClock.Instant) async throws -> Double {
        while ContinuousClock.now < deadline {
            if FileManager.default.fileExists(atPath: cookiePath), (try? await get("/v1/communities?limit=1")) == 200 {
                return watch.sample()?.cpuSeconds ?? watch.peaks.cpuSeconds
            }
            guard watch.sample() != nil else { throw ValidationError("the agent exited before its API answered") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ValidationError("the agent's API did not answer in time")
    }

    /// The median of 11 requests' times, in milliseconds.
    func medianMilliseconds(path: String) async throws -> Double {
        var times: [Double] = []
        for _ in 0..<11 {
            let started = ContinuousClock.now
            let status = try await get(path)
            guard status == 200 else { throw ValidationError("GET \(path) answered \(status)") }
            times.append((ContinuousClock.now - started).inSeconds * 1000)
        }
        return times.sorted()[times.count / 2]
    }
}

struct AgentBenchmarkResult: Codable {
    var communities: Int
    var syncedAfter = 0.0
    var cpuToSynced = 0.0
    var cpuBeforeAPI = 0.0
    var peakResidentMiB = 0.0
    var peakThreads = 0
    var peakOpenFiles = 0
    /// Store queries from the agent's start until every community was synced.
    var storeQueriesToSynced = 0
    var storeQueriesPerMinuteIdle = 0.0
    var relayReadsPerMinuteIdle = 0.0
    var storageRequestsIdle = 0
    var listAllMs = 0.0
    var listPageMs = 0.0
    var oneCommunityMs = 0.0
    var statusPageMs = 0.0
    var restartCPUBeforeAPI = 0.0
    /// The restarted agent's CPU seconds in its first 15 s after its API answered.
    var restartCPU = 0.0
    var restartStoreQueries = 0
    var restartStorageRequests = 0

    static func printTable(_ results: [AgentBenchmarkResult]) {
        let columns: [(String, (AgentBenchmarkResult) -> String)] = [
            ("N", { "\($0.communities)" }),
            ("synced s", { String(format: "%.1f", $0.syncedAfter) }),
            ("CPU to synced s", { String(format: "%.2f", $0.cpuToSynced) }),
            ("CPU before API s", { String(format: "%.2f", $0.cpuBeforeAPI) }),
            ("peak RSS MiB", { String(format: "%.0f", $0.peakResidentMiB) }),
            ("threads", { "\($0.peakThreads)" }),
            ("open files", { "\($0.peakOpenFiles)" }),
            ("store q. to synced", { "\($0.storeQueriesToSynced)" }),
            ("store q./min idle", { String(format: "%.0f", $0.storeQueriesPerMinuteIdle) }),
            ("relay/min idle", { String(format: "%.0f", $0.relayReadsPerMinuteIdle) }),
            ("list all ms", { String(format: "%.1f", $0.listAllMs) }),
            ("list page ms", { String(format: "%.1f", $0.listPageMs) }),
            ("one ms", { String(format: "%.1f", $0.oneCommunityMs) }),
            ("page ms", { String(format: "%.1f", $0.statusPageMs) }),
            ("restart: CPU before API s", { String(format: "%.2f", $0.restartCPUBeforeAPI) }),
            ("CPU 15 s", { String(format: "%.2f", $0.restartCPU) }),
            ("store q.", { "\($0.restartStoreQueries) " }),
            ("storage req.", { "\($0.restartStorageRequests)" }),
        ]
        let widths = columns.map { column in max(column.0.count, results.map { column.1($0).count }.max() ?? 0) + 2 }
        print(zip(columns, widths).map { $0.0.0.padding(toLength: $0.1, withPad: " ", startingAt: 0) }.joined())
        for result in results {
            print(zip(columns, widths).map { $0.0.1(result).padding(toLength: $0.1, withPad: " ", startingAt: 0) }.joined())
        }
        print("""
            CPU: the agent's user+system seconds from /proc (before API: when its API first answered). store q. to synced: \
            store queries the demo nwaku node answered from the agent's start until every index was processed. \
            idle: over the watch after that (periodic catch-up every 10 s, relay polled every second). list/one/page: median \
            of 11 GETs of /v1/communities, ?limit=50, /v1/communities/<id> and the status page. restart: the same database \
            and nothing new published; storage req. should be 0 (nothing fetched again).
            """)
    }
}
