import Foundation
import Testing
@testable import SyncEngine

@Suite struct GuardTests {
    @Test func bandwidthCapHoldsTheAverageRate() async throws {
        let limiter = BandwidthLimiter(bytesPerSecond: 100_000)
        let clock = ContinuousClock()
        let start = clock.now
        // 300 kB at 100 kB/s with one second of burst: the third wait ends after about 2 s.
        for _ in 0..<3 {
            try await limiter.waitForBudget()
            await limiter.consumed(150_000)
        }
        try await limiter.waitForBudget()
        let elapsed = clock.now - start
        #expect(elapsed >= .milliseconds(3500) && elapsed < .seconds(15))
    }

    @Test func diskGuardSaysWhatAndHowMuch() throws {
        let directory = FileManager.default.temporaryDirectory
        let free = try #require(DiskSpace.available(at: directory))
        #expect(throws: Never.self) { try DiskSpace.require(1, at: directory, for: "a tiny archive") }
        #expect {
            try DiskSpace.require(free + (1 << 40), at: directory, for: "archive 0xabc")
        } throws: { error in
            let text = "\(error)"
            return text.contains("archive 0xabc") && text.contains("available") && text.contains(directory.path)
        }
    }

    @Test func configurationErrorsAreClear() throws {
        let bad = AgentConfiguration(communities: [.init(id: "0x02", mode: "range", from: "2026-02-01", to: "2026-01-01")])
        #expect { try bad.validate() } throws: { "\($0)".contains("needs \"from\" < \"to\"") }
        #expect { try AgentConfiguration(communities: []).validate() } throws: { "\($0)".contains("no communities") }
        let selection = try AgentConfiguration.Community(id: "0x02", mode: "range", from: "2026-01-01", to: "2026-02-01").selection()
        #expect(selection == .range(from: 1_767_225_600, to: 1_769_904_000))
    }
}

@Suite struct ExampleConfigurationTests {
    @Test func theExampleInTheRepositoryIsValid() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/agent.json").path
        let configuration = try AgentConfiguration.load(path: path)
        #expect(configuration.communities.count == 2)
        #expect(try configuration.communities[1].selection() == .range(from: 1_767_225_600, to: 1_782_864_000))
    }
}
