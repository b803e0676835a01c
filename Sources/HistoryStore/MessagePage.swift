import Foundation
import GRDB

/// A position in a community's history, as a chat view pages it: a message's time and ID.
/// Written as `<milliseconds>-<id>` (e.g. `1764460800000-0x3f…`), which is what the API and
/// `messages` print and take back; clients treat it as opaque.
public struct MessageCursor: Hashable, Sendable, LosslessStringConvertible {
    public var timestamp: Int64
    public var id: String

    public init(timestamp: Int64, id: String) {
        self.timestamp = timestamp
        self.id = id
    }

    public init(of message: StoredMessage) { self.init(timestamp: message.timestamp, id: message.id) }

    /// Nil when `description` is not `<milliseconds>-<id>`.
    public init?(_ description: String) {
        guard let dash = description.firstIndex(of: "-"), let timestamp = Int64(description[..<dash]), timestamp >= 0 else { return nil }
        let id = description[description.index(after: dash)...]
        guard !id.isEmpty else { return nil }
        self.init(timestamp: timestamp, id: String(id))
    }

    public var description: String { "\(timestamp)-\(id)" }
}

/// Which page of a history: the newest messages, or those just older or just newer than a cursor.
public enum PagePosition: Sendable, Equatable {
    case newest
    case before(MessageCursor)
    case after(MessageCursor)
}

/// One page of messages, newest first, with the cursors for the pages around it.
public struct MessagePage: Sendable, Equatable {
    public var messages: [StoredMessage]
    /// Pass as `before` for the older page; nil when this page reaches the oldest message.
    public var older: MessageCursor?
    /// Pass as `after` for newer messages (set whenever the page has messages: more may come).
    public var newer: MessageCursor?
    /// The community's channel names, to show a message's channel by name.
    public var channels: ChannelNames = .none
}

extension HistoryDatabase {
    /// A page of `communityID`'s messages (one chat when `chatID` is given), newest first, as a
    /// chat view shows them: at most `limit`, ordered by time then ID. Served from an index
    /// (`message_row_by_chat` for a channel, `message_row_by_time` for the community): the
    /// cost is the page, not the history. Shows what `message` shows (an archive being imported
    /// appears when it is published).
    ///
    /// ```swift
    /// var page = try await database.messagePage(communityID: id, chatID: chat, position: .newest, limit: 50)
    /// if let older = page.older { page = try await database.messagePage(communityID: id, chatID: chat, position: .before(older), limit: 50) }
    /// ```
    ///
    /// Throws a GRDB `DatabaseError` when the database cannot be read.
    public func messagePage(communityID: String, chatID: String? = nil, position: PagePosition, limit: Int) async throws -> MessagePage {
        try await pool.read { db in try Self.messagePage(db, communityID: communityID, chatID: chatID, position: position, limit: limit) }
    }

    static func messagePage(_ db: Database, communityID: String, chatID: String?, position: PagePosition, limit: Int) throws -> MessagePage {
        precondition(limit > 0, "a page holds at least one message")
        // A page after a cursor is the `limit` messages just newer: read oldest first, then turned round.
        let ascending: Bool
        if case .after = position { ascending = true } else { ascending = false }
        var (sql, arguments) = listing(communityID: communityID, chatID: chatID, position: position)
        sql += ascending ? " ORDER BY timestamp, id" : " ORDER BY timestamp DESC, id DESC"
        // One more than asked: tells whether anything lies beyond the page.
        sql += " LIMIT \(limit + 1)"
        var rows = try Row.fetchAll(db, sql: sql, arguments: arguments).map(StoredMessage.init(row:))
        let beyond = rows.count > limit
        if beyond { rows.removeLast() }
        if ascending { rows.reverse() }
        let olderExists: Bool
        switch position {
        case .newest, .before: olderExists = beyond
        case .after: olderExists = true  // the cursor's own message, at least
        }
        return MessagePage(messages: rows, older: olderExists ? rows.last.map(MessageCursor.init(of:)) : nil,
                           newer: rows.first.map(MessageCursor.init(of:)), channels: try channelNames(db, communityID: communityID))
    }

    /// Every message of `communityID` (one chat when `chatID` is given) older than a cursor
    /// (`.before`), newer (`.after`) or all (`.newest`), newest first, handed to `body` one at a
    /// time from a database cursor: memory stays constant however long the history
    /// (`messages --json` streams this way). `body` returns false to stop.
    public func forEachMessage(communityID: String, chatID: String? = nil, position: PagePosition = .newest,
                               _ body: (StoredMessage) throws -> Bool) throws {
        try pool.read { db in
            var (sql, arguments) = Self.listing(communityID: communityID, chatID: chatID, position: position)
            sql += " ORDER BY timestamp DESC, id DESC"
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() {
                guard try body(StoredMessage(row: row)) else { return }
            }
        }
    }

    /// The query of a listing's rows, before its order: a community or one chat, and the side of a cursor.
    static func listing(communityID: String, chatID: String?, position: PagePosition) -> (String, StatementArguments) {
        var sql = "SELECT * FROM message WHERE community_id = ?"
        var arguments: StatementArguments = [communityID]
        if let chatID {
            sql += " AND chat_id = ?"
            arguments += [chatID]
        }
        switch position {
        case .newest: break
        case .before(let cursor):
            // `timestamp <= ?` is the indexed range; the rest settles ties on the timestamp by ID.
            sql += " AND timestamp <= ? AND (timestamp < ? OR id < ?)"
            arguments += [cursor.timestamp, cursor.timestamp, cursor.id]
        case .after(let cursor):
            sql += " AND timestamp >= ? AND (timestamp > ? OR id > ?)"
            arguments += [cursor.timestamp, cursor.timestamp, cursor.id]
        }
        return (sql, arguments)
    }
}
