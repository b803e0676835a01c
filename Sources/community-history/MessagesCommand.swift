import AgentAPI
import ArgumentParser
import Foundation
import HistoryStore
import StatusCrypto
import StatusWire

struct MessagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "messages",
        abstract: "List a community's stored history, newest first, without knowing the schema.",
        discussion: """
            Each line: time, channel (its name, #general, once the community's signed description \
            has been seen; its UUID before), author, type, text. --channel takes either. The last line on \
            standard error gives the cursor for the next page (--before). --json prints one JSON object \
            per line (NDJSON, the local API's message objects with schemaVersion), streamed: memory stays \
            the same whatever the history's size. Listings are served from an index, newest first.
            """
    )

    @Option(help: "Community ID (0x + 66 hex digits).")
    var community: String

    @OptionGroup var database: DatabaseOption

    @Option(help: "Only this channel: its name (as listed, with or without #), its UUID or its chat ID.")
    var channel: String?

    @Option(help: "Only messages older than this cursor (printed at the end of a page, or a message's cursor in --json).")
    var before: String?

    @Option(help: "Only messages newer than this cursor (with --limit: the N just newer).")
    var after: String?

    @Option(help: "At most this many messages (default: all).")
    var limit: Int?

    @Flag(help: "Print NDJSON: one message object per line.")
    var json = false

    func validate() throws {
        if before != nil && after != nil { throw ValidationError("give --before or --after, not both") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        for (name, value) in [("--before", before), ("--after", after)] {
            if let value, MessageCursor(value) == nil {
                throw ValidationError("\(name) \(value) is not a cursor (<milliseconds>-<message id>, as messages prints them)")
            }
        }
    }

    func run() async throws {
        let communityID: String
        do { communityID = try CommunityID(community).string } catch {
            printError("\(error)")
            throw Exit.badInput
        }
        let path = database.path
        guard FileManager.default.fileExists(atPath: path) else {
            printError("no database at \(path) (run sync or replay first, or pass --db)")
            throw Exit.databaseError
        }
        let position: PagePosition = before.flatMap(MessageCursor.init).map { .before($0) }
            ?? after.flatMap(MessageCursor.init).map { .after($0) } ?? .newest
        do {
            let history = try HistoryDatabase(path: path, readOnly: true)
            let names = try await history.channelNames(communityID: communityID)
            var chatID: String?
            if let channel {
                do {
                    chatID = try names.knownChatID(for: channel, communityID: communityID,
                                                   chatsWithMessages: try await history.chatIDs(communityID: communityID))
                } catch let error as AmbiguousChannelName {
                    printError(error.description)
                    throw Exit.badInput
                } catch let error as UnknownChannel {
                    printError(error.description)
                    throw Exit.badInput
                }
            }
            let output = MessageOutput(json: json, communityID: communityID, channels: names)
            if let limit {
                // A bounded page: the same query as the API's.
                let page = try await history.messagePage(communityID: communityID, chatID: chatID, position: position, limit: limit)
                for message in page.messages { try output.write(message) }
                output.finish(older: page.older, newer: page.newer)
            } else {
                // Everything in the range, newest first, streamed from a database cursor.
                try history.forEachMessage(communityID: communityID, chatID: chatID, position: position) { message in
                    try output.write(message)
                    return true
                }
                output.finish(older: nil, newer: nil)
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("\(error)")
            throw Exit.databaseError
        }
    }
}

/// Writes messages one at a time, as text lines or NDJSON, to standard output.
final class MessageOutput {
    let json: Bool
    let communityID: String
    let channels: ChannelNames
    private(set) var count = 0
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
    private let time: DateFormatter = {
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return format
    }()

    init(json: Bool, communityID: String, channels: ChannelNames) {
        self.json = json
        self.communityID = communityID
        self.channels = channels
    }

    func write(_ message: StoredMessage) throws {
        count += 1
        if json {
            FileHandle.standardOutput.write(try encoder.encode(Versioned(body: MessageView(message: message, channelName: channels.name(ofChat: message.chatID)))) + Data("\n".utf8))
            return
        }
        let when = time.string(from: Date(timeIntervalSince1970: TimeInterval(message.timestamp) / 1000))
        // The name when the community's description gave one (`#general`), else the UUID.
        let channel = channels.name(ofChat: message.chatID).map { "#\($0)" } ?? ChannelName.uuid(of: message.chatID, in: communityID) ?? "-"
        let type = MessageTypeNames.name(of: message.type) ?? "type \(message.type)"
        let text = message.text.map { $0.replacingOccurrences(of: "\n", with: " ") }.map { String($0.prefix(120)) } ?? ""
        let source = message.source == .local ? " (local copy)" : ""
        print("\(when)  \(channel)  \(message.author.prefix(12))…  \(type)\(source)  \(text)")
    }

    /// The count and, when there is more, the cursor for the next page, on standard error (not in NDJSON).
    func finish(older: MessageCursor?, newer: MessageCursor?) {
        var line = "\(count) messages"
        if let older { line += "; older: --before \(older)" }
        if let newer { line += "; newer: --after \(newer)" }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
