import ArgumentParser
import Foundation
import HistoryStore
import LocalHTTPServer
import Logging
import ServiceLifecycle
import AgentAPI
import AgentService
import SyncEngine
import UnixSignals

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Follow every community in the configuration and keep each one's history complete.",
        discussion: """
            Runs until SIGTERM or SIGINT. Live announcements come from the nwaku relay, with a periodic \
            store catch-up. Events go to --events (JSON lines) or standard output; health and Prometheus \
            metrics to http://127.0.0.1:<metricsPort>/metrics when the configuration sets metricsPort. \
            A chat client uses the local API on the Unix socket <database>.sock (apiSocket), and on \
            127.0.0.1:<apiPort> with the bearer token in <database>.cookie when apiPort is set \
            (docs/agent-api.openapi.json). SIGHUP reads the configuration file again. \
            See README.md ("The agent", "The local API") and examples/agent.json.
            """
    )

    @Option(name: .customLong("config"), help: ArgumentHelp("The agent configuration (JSON; default: $COMMUNITY_HISTORY_CONFIG, else agent.json in $XDG_CONFIG_HOME/community-history).",
                               valueName: "file"))
    var configPath: String?
    var config: String { configPath ?? DefaultPaths.agentConfiguration }

    @Option(help: "Append JSON-lines events to this file (default: standard output).")
    var events: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let progress = ProgressPrinter(enabled: !logging.quiet)
        logging.bootstrap(progress: progress)
        let configuration: AgentConfiguration
        if configPath == nil && !FileManager.default.fileExists(atPath: config) {
            printError("no configuration at \(config) (write one there, like examples/agent.json, or pass --config FILE)")
            throw Exit.badInput
        }
        do { configuration = try AgentConfiguration.load(path: config, defaultDatabase: DefaultPaths.database()) } catch {
            printError("\(error)")
            throw Exit.badInput
        }
        // Many communities at once, and API clients, need more files than a desktop's soft 1,024.
        if let raised = FileLimit.raiseToHardLimit(), raised.after != raised.before {
            progress.line("open-file limit raised from \(raised.before) to \(raised.after)")
        }
        // What is in force, defaults included: a setting that did not take is visible at once.
        progress.line("agent settings (\(config)):\n" + configuration.effectiveSettings.split(separator: "\n").map { "  \($0)" }.joined(separator: "\n"))
        let agent: HistoryAgent
        let eventLog: EventLog
        do { try DefaultPaths.prepareForWriting(configuration.databasePath) } catch {
            printError("cannot make the directory of \(configuration.databasePath): \(error)")
            throw Exit.databaseError
        }
        do {
            // Events on standard output go through the printer, so they do not tear the live block.
            eventLog = try events.map { try EventLog(path: $0) } ?? EventLog(writer: progress.standardOutput)
            agent = try await HistoryAgent(configuration: configuration, events: eventLog,
                                     logger: Logger(label: "community-history.agent"),
                                     onEvent: { community, event in progress.show(event, community: community) })
        } catch let error as SyncLockError {
            printError(error.description)
            if case .cannotOpen = error { throw Exit.databaseError }
            throw Exit.lockHeld
        } catch {
            printError("\(error)")
            throw Exit.badInput
        }
        // Shut down in reverse order: the agent first (which ends the API's event streams), then
        // the SIGHUP reloader, then the API.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if configuration.apiSocketPath != nil || configuration.apiPort != nil {
            services.append(.init(service: LocalAPIServer(api: AgentAPI(agent: agent), socketPath: configuration.apiSocketPath,
                                                          port: configuration.apiPort, cookiePath: configuration.cookiePath,
                                                          onListening: { progress.line("local API on \($0)") })))
        }
        // Trapped now, before anything runs: a SIGHUP from here on is a reload request.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        services.append(.init(service: ConfigurationReloader(path: config, agent: agent, events: eventLog, signals: hangups)))
        services.append(.init(service: agent))
        let group = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "community-history.lifecycle")))
        do { try await group.run() } catch let error as LoopbackServerError {
            progress.finish()
            printError("metricsPort: \(error)")
            throw Exit.badInput
        } catch let error as LocalAPIError {
            progress.finish()
            printError("local API: \(error)")
            throw Exit.badInput
        } catch {
            progress.finish()
            printError("\(error)")
            throw Exit.badInput
        }
        progress.finish()
    }
}
