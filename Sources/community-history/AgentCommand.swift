import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SyncEngine

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Follow every community in the configuration and keep each one's history complete.",
        discussion: """
            Runs until SIGTERM or SIGINT. Live announcements come from the nwaku relay, with a periodic \
            store catch-up. Events go to --events (JSON lines) or standard output; health and Prometheus \
            metrics to http://127.0.0.1:<metricsPort>/metrics when the configuration sets metricsPort. \
            See README.md ("The agent") and examples/agent.json.
            """
    )

    @Option(help: "The agent configuration (JSON).")
    var config: String

    @Option(help: "Append JSON-lines events to this file (default: standard output).")
    var events: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        logging.bootstrap()
        let configuration: AgentConfiguration
        do { configuration = try AgentConfiguration.load(path: config) } catch {
            printError("\(error)")
            throw Exit.badInput
        }
        let progress = ProgressPrinter(enabled: true)
        let agent: HistoryAgent
        do {
            agent = try HistoryAgent(configuration: configuration, events: try EventLog(path: events),
                                     logger: Logger(label: "community-history.agent"),
                                     onEvent: { community, event in progress.show(event, community: community) })
        } catch {
            printError("\(error)")
            throw Exit.badInput
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: agent)], gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "community-history.lifecycle")))
        try await group.run()
    }
}
