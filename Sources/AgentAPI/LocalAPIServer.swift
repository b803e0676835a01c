import AgentService
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Why the local API could not start.
public enum LocalAPIError: Error, CustomStringConvertible, Equatable {
    /// The socket path is too long for a Unix socket (108 bytes on Linux, with its NUL).
    case socketPathTooLong(path: String)
    /// Something that is not a socket is where the socket goes: it is not replaced.
    case notASocket(path: String)
    case cannotBind(path: String, reason: String)
    case cannotWriteCookie(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .socketPathTooLong(let path):
            return "the API socket path is \(path.utf8.count) bytes, over the 107 a Unix socket takes: set apiSocket to a shorter path (\(path))"
        case .notASocket(let path): return "\(path) exists and is not a socket: move it, or set apiSocket to another path"
        case .cannotBind(let path, let reason): return "cannot listen on \(path): \(reason)"
        case .cannotWriteCookie(let path, let code): return "cannot write the API cookie file \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// Serves `AgentAPI` on a Unix socket (mode 0600: only the user can connect) and, when asked,
/// on 127.0.0.1 with a bearer token from a cookie file. A swift-service-lifecycle `Service`:
/// put it before the agent in the service group, so the agent stops first (which ends the
/// event streams) and the server then stops.
///
/// ```swift
/// let api = LocalAPIServer(api: AgentAPI(agent: agent), socketPath: "history.sqlite.sock", port: nil, cookiePath: "history.sqlite.cookie")
/// let group = ServiceGroup(services: [api, agent], gracefulShutdownSignals: [.sigterm], logger: logger)
/// ```
public final class LocalAPIServer: Service, Sendable {
    /// What one listener holds open: connections that never send a request, or sit between
    /// requests, are closed after `idleTimeout` (a request in progress, an event stream among
    /// them, is never cut); past `maxConnections` no new connection is accepted until one
    /// closes. The socket and the TCP port each have their own, so a TCP flood (no token is
    /// needed to open a connection) never takes the socket away, and the two together stay far
    /// below a desktop's 1,024 open files (issue 27: 1,100 idle connections took the agent down).
    public struct ConnectionLimits: Sendable {
        public var idleTimeout: Duration
        public var maxConnections: Int

        public init(idleTimeout: Duration = .seconds(10), maxConnections: Int = 64) {
            self.idleTimeout = idleTimeout
            self.maxConnections = maxConnections
        }
    }

    let api: AgentAPI
    let limits: ConnectionLimits
    let socketPath: String?
    let port: Int?
    let cookiePath: String
    let logger: Logger
    /// Told each address once it accepts connections (`unix:<path>`, `http://127.0.0.1:<port>`).
    let onListening: @Sendable (String) -> Void
    /// The TCP port once listening (for tests and the log).
    public let listeningPort = Mutex<Int?>(nil)
    /// The files this server made, by device and inode: removed when it stops only if still
    /// theirs (a next agent may have made its own at the same paths meanwhile).
    private let madeFiles = Mutex<[(path: String, device: UInt64, inode: UInt64)]>([])
    /// Where the socket could not be put in place: `run` fails with it.
    private let (failures, failure) = AsyncStream.makeStream(of: LocalAPIError.self)
    /// Resumed when every listener is up.
    private let ready = Mutex<[CheckedContinuation<Void, Never>]>([])
    private let listening = Mutex(0)

    public init(api: AgentAPI, socketPath: String?, port: Int?, cookiePath: String, limits: ConnectionLimits = ConnectionLimits(),
                logger: Logger = Logger(label: "community-history.api"),
                onListening: @escaping @Sendable (String) -> Void = { _ in }) {
        self.limits = limits
        self.onListening = onListening
        self.api = api
        self.socketPath = socketPath
        self.port = port
        self.cookiePath = cookiePath
        self.logger = logger
    }

    /// The socket path checked, and a private directory beside it to bind in: the socket gets
    /// its mode there, where nobody else can reach it, and is then renamed into place.
    private func prepareSocket(_ path: String) throws -> String {
        guard path.utf8.count <= 107 else { throw LocalAPIError.socketPathTooLong(path: path) }
        var info = stat()
        if lstat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFSOCK { throw LocalAPIError.notASocket(path: path) }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(".api-\(getpid())-\(UUID().uuidString.prefix(8))")
        guard mkdir(directory.path, 0o700) == 0 else {
            throw LocalAPIError.cannotBind(path: path, reason: String(cString: strerror(errno)))
        }
        let bindPath = directory.appendingPathComponent("s").path
        guard bindPath.utf8.count <= 107 else {
            rmdir(directory.path)
            throw LocalAPIError.socketPathTooLong(path: bindPath)
        }
        return bindPath
    }

    public func run() async throws {
        var applications: [any Service] = []
        var bindDirectory: String?
        if let socketPath {
            let bindPath = try prepareSocket(socketPath)
            bindDirectory = URL(fileURLWithPath: bindPath).deletingLastPathComponent().path
            applications.append(Application(
                router: api.router(), server: httpServer,
                configuration: .init(address: .unixDomainSocket(path: bindPath), serverName: nil,
                                     availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections)),
                onServerRunning: { [self] _ in
                    // Mode 0600 while only this user can reach the socket, then into place.
                    let placed = chmod(bindPath, 0o600) == 0 && rename(bindPath, socketPath) == 0
                    let reason = placed ? "" : String(cString: strerror(errno))
                    rmdir(URL(fileURLWithPath: bindPath).deletingLastPathComponent().path)
                    guard placed else {
                        failure.yield(.cannotBind(path: socketPath, reason: "cannot move the socket into place: \(reason)"))
                        return
                    }
                    remember(socketPath)
                    logger.info("local API on unix socket \(socketPath)")
                    onListening("unix:\(socketPath)")
                    serverStarted()
                },
                logger: logger))
        }
        if let port {
            let token = try CookieFile.writeNewToken(at: cookiePath)
            remember(cookiePath)
            applications.append(Application(
                router: api.router(token: token), server: httpServer,
                configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: nil,
                                     availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections)),
                onServerRunning: { [self] channel in
                    let bound = channel.localAddress?.port ?? port
                    listeningPort.withLock { $0 = bound }
                    logger.info("local API on http://127.0.0.1:\(bound) (bearer token in \(cookiePath))")
                    onListening("http://127.0.0.1:\(bound)")
                    serverStarted()
                },
                logger: logger))
        }
        defer {
            removeMadeFiles()
            if let bindDirectory { rmdir(bindDirectory) }
        }
        try await withThrowingDiscardingTaskGroup { group in
            for application in applications {
                group.addTask { try await application.run() }
            }
            group.addTask { [failures] in
                for await failure in failures { throw failure }
            }
            // Ends the failure watch once the listeners are done (a graceful shutdown).
            group.addTask { [self] in
                try? await gracefulShutdown()
                failure.finish()
            }
        }
    }

    /// HTTP/1.1 with the idle timeout of `limits`.
    private var httpServer: HTTPServerBuilder {
        let (seconds, attoseconds) = limits.idleTimeout.components
        return .http1(configuration: .init(idleTimeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)))
    }

    private func remember(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        madeFiles.withLock { $0.append((path, UInt64(info.st_dev), UInt64(info.st_ino))) }
    }

    /// Removes the socket and the cookie file if they are still the ones this server made.
    private func removeMadeFiles() {
        for file in madeFiles.withLock({ $0 }) {
            var info = stat()
            guard lstat(file.path, &info) == 0, UInt64(info.st_dev) == file.device, UInt64(info.st_ino) == file.inode else { continue }
            if unlink(file.path) != 0 {
                logger.warning("cannot remove \(file.path)", metadata: ["error": "\(String(cString: strerror(errno)))"])
            }
        }
    }

    private func serverStarted() {
        let waiting: [CheckedContinuation<Void, Never>] = listening.withLock { count in
            count += 1
            guard count == (socketPath == nil ? 0 : 1) + (port == nil ? 0 : 1) else { return [] }
            return ready.withLock { waiting in
                defer { waiting = [] }
                return waiting
            }
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Returns once every listener accepts connections.
    public func waitUntilListening() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let up = listening.withLock { count in
                let all = count == (socketPath == nil ? 0 : 1) + (port == nil ? 0 : 1)
                if !all { ready.withLock { $0.append(continuation) } }
                return all
            }
            if up { continuation.resume() }
        }
    }
}
