import CodexClient
import GroupKeys
import HistoryStore
import Logging
import WakuClient

/// What the agent's services share, set up once by `HistoryAgent.init`: the configuration as
/// the agent started with it, the database, the two nodes' clients, the group keys, and where
/// events, metrics and logs go.
struct AgentContext: Sendable {
    let configuration: AgentConfiguration
    let database: HistoryDatabase
    let waku: WakuClient
    let codex: CodexClient
    /// The group keys, shared by every community's sync and replaced when keys are imported.
    let keys: CurrentKeyring
    let events: EventLog
    let metrics: AgentMetrics
    let logger: Logger
}
