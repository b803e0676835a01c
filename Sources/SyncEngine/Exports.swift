// The machine's types (actions, outcomes, failures, selections) are the engine's vocabulary:
// whoever uses the engine uses them, so they come with it.
@_exported import SyncMachine
