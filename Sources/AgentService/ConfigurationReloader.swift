import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Reads the configuration file again on SIGHUP and hands it to the agent (`HistoryAgent.reload`):
/// communities added to the file start, removed ones stop (their history stays), changed ones
/// restart. A file that does not read or validate is reported and changes nothing. A service of
/// the agent's service group; it ends with the group's graceful shutdown.
///
/// ```swift
/// let reloader = ConfigurationReloader(path: "agent.json", agent: agent)
/// let group = ServiceGroup(services: [reloader, agent], …)
/// ```
public struct ConfigurationReloader: Service {
    let path: String
    let agent: HistoryAgent
    let logger: Logger
    let events: EventLog
    let signals: @Sendable () async -> AsyncStream<Void>

    /// `signals`: made with `await UnixSignalsSequence(trapping: .sighup)` before the agent starts,
    /// so that a SIGHUP during start-up is a reload request, not the default action (ending the
    /// process). Tests pass their own requests instead.
    public init<Signals: AsyncSequence & Sendable>(path: String, agent: HistoryAgent, events: EventLog, signals: Signals,
                                                   logger: Logger = Logger(label: "community-history.agent")) where Signals.Element: Sendable {
        self.init(path: path, agent: agent, events: events, logger: logger, signals: {
            let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
            let task = Task {
                do { for try await _ in signals { continuation.yield() } } catch {}
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
            return stream
        })
    }

    /// `signals`: each element is one reload request.
    init(path: String, agent: HistoryAgent, events: EventLog, logger: Logger, signals: @escaping @Sendable () async -> AsyncStream<Void>) {
        self.path = path
        self.agent = agent
        self.events = events
        self.logger = logger
        self.signals = signals
    }

    public func run() async throws {
        let requests = await signals()
        await cancelWhenGracefulShutdown {
            for await _ in requests { await reload() }
        }
    }

    /// Reads the file and applies it; returns what changed (nil when the file was refused).
    @discardableResult
    public func reload() async -> ReloadSummary? {
        do {
            let configuration = try AgentConfiguration.load(path: path, defaultDatabase: agent.configuration.database)
            let summary = try await agent.reload(configuration)
            logger.notice("configuration reloaded", metadata: [
                "started": "\(summary.started)", "stopped": "\(summary.stopped)", "restarted": "\(summary.restarted)",
                "needRestart": "\(summary.needRestart)",
            ])
            events.write(.configurationReloaded(summary))
            return summary
        } catch {
            logger.error("configuration not reloaded; the agent goes on with the one it has", metadata: ["file": "\(path)", "error": "\(error)"])
            events.write(.configurationReloadFailed(error: "\(error)"))
            return nil
        }
    }
}
