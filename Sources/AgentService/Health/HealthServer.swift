import Foundation
import LocalHTTPServer
import Logging
import ServiceLifecycle

/// `GET /health` and `GET /metrics` on 127.0.0.1 (`metricsPort`), as a service: listens when the
/// agent starts, stops listening when it stops. A port that cannot be bound stops the agent's
/// start with the error.
struct HealthServer: Service {
    let port: Int
    let portBox: PortBox
    let logger: Logger
    let health: @Sendable () async -> AgentHealth
    let metrics: @Sendable () -> String

    func run() async throws {
        let (health, metrics) = (self.health, self.metrics)
        let server = try await LoopbackHTTPServer.start(port: port) { request in
            switch (request.method, request.pathSegments) {
            case ("GET", ["health"]), ("GET", ["healthz"]):
                let report = await health()
                do {
                    return LoopbackResponse(status: report.status == .ok ? 200 : 503, contentType: "application/json",
                                            body: .data(try JSONEncoder().encode(report)))
                } catch {
                    return .text("cannot encode the health report: \(error)", status: 500)
                }
            case ("GET", ["metrics"]):
                return LoopbackResponse(status: 200, contentType: "text/plain; version=0.0.4", body: .data(Data(metrics().utf8)))
            default:
                return .text("not found (try /health or /metrics)", status: 404)
            }
        }
        portBox.set(server.port)
        logger.info("health and metrics on http://127.0.0.1:\(server.port)/metrics")
        // Until the agent stops (graceful shutdown, or cancellation).
        try? await gracefulShutdown()
        await server.stop()
    }
}
