import ArgumentParser
struct BenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "benchmark", abstract: "todo")
    func run() async throws {}
}
