import Foundation
import Testing
@testable import AgentService
import SyncEngine

/// The agent's configuration: checks, errors, the example file.
@Suite struct ConfigurationValidationTests {
    @Test func configurationErrorsAreClear() throws {
        let id = "0x03a66ba3747abe18d182838b1eaf9f0ee989fb57084bc7269a53ca588cca667ca0"
        let bad = AgentConfiguration(communities: [.init(id: id, mode: "range", from: "2026-02-01", to: "2026-01-01")])
        #expect { try bad.validate() } throws: { "\($0)".contains("needs \"from\" < \"to\"") }
        // An ID that is not a key is refused when the file is read, not when its sync starts.
        #expect { try AgentConfiguration(communities: [.init(id: "0x02")]).validate() } throws: { "\($0)".contains("not a community ID") }
        // Two spellings of one community are one community.
        let twice = AgentConfiguration(communities: [.init(id: id), .init(id: "0X" + id.dropFirst(2).uppercased())])
        #expect { try twice.validate() } throws: { "\($0)".contains("listed twice") }
        // No communities is valid: a chat client joins them through the local API.
        try AgentConfiguration(communities: []).validate()
        #expect { try AgentConfiguration(apiPort: 70_000, communities: []).validate() } throws: { "\($0)".contains("apiPort must be") }
        let selection = try AgentConfiguration.Community(id: "0x02", mode: "range", from: "2026-01-01", to: "2026-02-01").selection()
        #expect(selection == .range(from: 1_767_225_600, to: 1_769_904_000))
    }
}

/// Regression (issue 9, defect 6): a misspelt key was ignored (`"hydraton": "merge"` left replace
/// mode on), intervals of 0 or less spun, `concurrency: 0` was taken, JSON errors had no position,
/// and relative paths followed the working directory.
@Suite(.timeLimit(.minutes(5))) struct ConfigurationFileTests {
    let id = "0x03a66ba3747abe18d182838b1eaf9f0ee989fb57084bc7269a53ca588cca667ca0"

    func load(_ json: String) throws -> AgentConfiguration {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("agent.json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return try AgentConfiguration.load(path: path)
    }

    func error(_ json: String) -> String {
        do { _ = try load(json); return "" } catch { return "\(error)" }
    }

    @Test func unknownKeysAreRejectedWithTheNearestKnownOne() {
        #expect(error(#"{"codexUrl": "http://127.0.0.1:8080", "communities": [{"id": "\#(id)"}]}"#).contains(#"unknown key "codexUrl" (did you mean "codexURL"?)"#))
        #expect(error(#"{"communities": [{"id": "\#(id)", "hydraton": "merge"}]}"#)
            .contains(#"unknown key "communities[0].hydraton" (did you mean "hydration"?)"#))
    }

    @Test func valuesOutOfRangeAreRejected() {
        #expect(error(#"{"relayPollSeconds": 0, "communities": [{"id": "\#(id)"}]}"#).contains("relayPollSeconds must be between 0.05 and 3600 seconds"))
        #expect(error(#"{"relayPollSeconds": -1, "communities": [{"id": "\#(id)"}]}"#).contains("relayPollSeconds must be between 0.05 and 3600 seconds"))
        #expect(error(#"{"storeCatchUpSeconds": 0, "communities": [{"id": "\#(id)"}]}"#).contains("storeCatchUpSeconds"))
        #expect(error(#"{"metricsPort": 70000, "communities": [{"id": "\#(id)"}]}"#).contains("metricsPort"))
        #expect(error(#"{"communities": [{"id": "\#(id)", "concurrency": 0}]}"#).contains("concurrency must be between 1 and 64"))
        #expect(error(#"{"communities": [{"id": "\#(id)", "settleSeconds": -5}]}"#).contains("settleSeconds must be between 0 and 86400 seconds"))
    }

    @Test func aSyntaxErrorSaysWhere() {
        let message = error("{\n  \"communities\": [\n    {\"id\": \"\(id)\" \"mode\": \"all\"}\n  ]\n}")
        #expect(message.contains("is not valid JSON"))
        #expect(message.contains("line 3"), "\(message)")
    }

    @Test func relativePathsAreRelativeToTheFile() throws {
        let configuration = try load(#"{"database": "data/history.sqlite", "archivesDirectory": "downloads", "communities": [{"id": "\#(id)"}]}"#)
        let database = try #require(configuration.database)
        #expect(database.hasPrefix("/") && database.hasSuffix("/data/history.sqlite") && database.contains("config-"))
        #expect(configuration.archivesDirectory?.hasPrefix("/") == true)
        #expect(configuration.effectiveSettings.contains("database \(database)"))
        #expect(configuration.effectiveSettings.contains("hydration replace"))
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
