import ArchiveImport
import ArgumentParser
import Foundation
import HistoryStore
import StatusCrypto

struct MessagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "messages",
        abstract: "List a community's stored history (oldest first) without knowing the schema."
    )

    @Option(help: "Community ID (0x + 66 hex digits).")
    var community: String

    @Option(help: "SQLite database.")
    var db: String = "history.sqlite"

    @Option(help: "Only this chat ID (community ID + channel UUID).")
    var channel: String?

    @Option(help: "At most this many messages.")
    var limit: Int?

    @Flag(help: "Print JSON (one array).")
    var json = false

    struct Listed: Codable {
        var id: String
        var chatID: String?
        var author: String
        var timestamp: String
        var type: Int
        var text: String?
        var source: String
    }

    func run() async throws {
        let communityID: String
        do { communityID = try CommunityID(community).string } catch {
            printError("\(error)")
            throw Exit.badInput
        }
        guard FileManager.default.fileExists(atPath: db) else {
            printError("no database at \(db) (run sync or replay first, or pass --db)")
            throw Exit.databaseError
        }
        let messages: [StoredMessage]
        do {
            messages = try HistoryDatabase(path: db, readOnly: true).messages(communityID: communityID, chatID: channel, limit: limit)
        } catch {
            printError("\(error)")
            throw Exit.databaseError
        }
        let format = ISO8601DateFormatter()
        let listed = messages.map {
            Listed(id: $0.id, chatID: $0.chatID, author: $0.author,
                   timestamp: format.string(from: Date(timeIntervalSince1970: TimeInterval($0.timestamp) / 1000)),
                   type: $0.type, text: $0.text, source: $0.source.rawValue)
        }
        if json {
            print(try ReportJSON.encode(listed))
            return
        }
        for m in listed {
            let text = m.text.map { $0.replacingOccurrences(of: "\n", with: " ") } ?? "<type \(m.type)>"
            print("\(m.timestamp)  \(m.chatID.map { String($0.suffix(36)) } ?? "-")  \(m.author.prefix(12))…  \(m.id.prefix(14))…  \(text.prefix(120))")
        }
        FileHandle.standardError.write(Data("\(listed.count) messages\n".utf8))
    }
}
