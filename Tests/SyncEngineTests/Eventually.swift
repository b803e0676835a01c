import Testing

/// Waits (on real time, a few milliseconds at a time) until `condition` holds, at most `within`:
/// past it the test fails with `what` instead of hanging until the suite's time limit.
func waitUntil(_ what: @autoclosure () -> String, within: Duration = .seconds(120), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + within
    while try await !condition() {
        try #require(ContinuousClock.now < deadline, "waited \(within) for \(what())")
        try await Task.sleep(for: .milliseconds(5))
    }
}
