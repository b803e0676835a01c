import AgentService
import Foundation
import HistoryStore
import PeerDoctor

/// The status page's HTML, rendered on the server: everything a person reads is here, so the
/// page works without JavaScript. Every value from the database or a peer is escaped.
struct StatusPageView {
    struct Community {
        var status: FollowedCommunityStatus
        var weeks: [ArchiveWeek]
    }

    var health: AgentHealth
    var communities: [Community]
    var heldKeyIDs: [String]
    /// What went wrong with the last form, or reading the database.
    var problems: [String]
    var databasePath: String
    /// The page's place in the list: how many are followed, where this page starts (nil: at the
    /// first), and where the next one does (nil: this is the last).
    var followedCount = 0
    var after: String?
    var next: String?

    func render() -> String {
        var body = "<header><h1>community-history</h1>"
        body += "<p class=\"health \(health.status.rawValue)\" id=\"health\">agent: \(escape(health.status.rawValue))</p>"
        body += "<p class=\"database\">database \(escape(databasePath))</p></header><main>"
        for problem in problems { body += "<p class=\"problem\" role=\"alert\">\(escape(problem))</p>" }
        let failing = health.checks.filter { !$0.passed }
        if !failing.isEmpty {
            body += "<section id=\"peers\"><h2>Peers</h2><ul>"
            for check in failing {
                body += "<li class=\"error\"><strong>\(escape(check.name))</strong>: \(escape(check.detail))"
                if let fix = check.fix { body += "<br><span class=\"fix\">fix: \(escape(fix))</span>" }
                body += "</li>"
            }
            body += "</ul></section>"
        }
        body += "<section id=\"communities\"><h2>Communities</h2>"
        if communities.isEmpty && after == nil { body += "<p class=\"empty\">No community is followed yet: join one below.</p>" }
        if after != nil || next != nil {
            body += "<p class=\"paging\">\(communities.count) of \(followedCount) communities shown"
            if after != nil { body += " · <a href=\"/\">first page</a>" }
            if let next { body += " · <a href=\"/?after=\(escape(next))\" rel=\"next\">next page</a>" }
            body += "</p>"
        }
        for community in communities { body += render(community) }
        body += "</section>"
        body += """
            <section id="join"><h2>Join a community</h2>
            <form method="post" action="/communities"><label>Community ID <input name="id" required size="70" \
            placeholder="0x02… or 0x03…" autocomplete="off"></label> <label>Archives <select name="mode">\
            <option value="all">all</option><option value="latest">the latest</option></select></label> \
            <button type="submit">Join</button></form></section>
            """
        body += "<section id=\"keys\"><h2>Group keys held</h2>"
        body += heldKeyIDs.isEmpty ? "<p>None (an encrypted community's archives wait for `keys import`).</p>"
            : "<p>\(heldKeyIDs.count) key(s):</p><ul class=\"key-ids\">" + heldKeyIDs.map { "<li><code>\(escape($0))</code></li>" }.joined() + "</ul>"
        body += "</section>" + legend + "</main>"
        return Self.document(title: "community-history", body: body)
    }

    private func render(_ community: Community) -> String {
        let status = community.status, id = escape(status.communityID)
        let history = status.history
        var html = "<article class=\"community\" data-community=\"\(id)\"><h3><code>\(id)</code></h3>"
        html += "<p class=\"state\">sync: <span data-state>\(escape(status.state))</span> · selection \(escape(status.settings.mode ?? "all"))</p>"
        // Up to date when the last plan imported everything importable; the script moves it while one runs.
        let done = status.state == "idle" && history?.lastSuccessAt != nil && history?.lastError == nil
        html += "<div class=\"progress\"><progress max=\"100\" value=\"\(done ? 100 : 0)\" data-progress></progress> "
        html += "<span data-progress-text>\(done ? "up to date" : escape(status.state))</span></div>"
        html += "<ol class=\"strip\" aria-label=\"weeks, oldest first\">"
        for week in community.weeks {
            let label = "\(Self.day(week.from)) to \(Self.day(week.to)): \(Self.words(week.state))"
            html += "<li class=\"week \(week.state.rawValue)\" data-archive=\"\(escape(week.archiveID))\" title=\"\(escape(label))\">"
                + "<span>\(escape(label))</span></li>"
        }
        html += "</ol>"
        if community.weeks.isEmpty { html += "<p class=\"empty\">No index read yet.</p>" }
        if let history {
            html += "<p class=\"counts\">\(history.messageCount) messages · \(history.archivesImported) archives imported, "
                + "\(history.archivesPending) pending, \(history.archivesFailed) failed, \(history.archivesOverLimit) over a limit, "
                + "\(history.archivesUnimportable) unreadable</p>"
            if let error = history.lastError { html += "<p class=\"error\" role=\"alert\">last error: \(escape(error))</p>" }
            for wait in history.keyWaits {
                html += "<p class=\"key-wait\">\(escape(wait.kind.rawValue)) \(escape(String(wait.item.prefix(18))))… waits for key "
                    + "<code>\(escape(wait.keyID))</code>: <code>community-history keys import FILE</code></p>"
            }
        }
        html += "<div class=\"actions\">"
        html += "<form method=\"post\" action=\"/communities/\(id)/rescan\"><button type=\"submit\" data-rescan>Rescan</button></form>"
        if status.origin == .api {
            html += "<form method=\"post\" action=\"/communities/\(id)/leave\"><button type=\"submit\">Leave</button></form>"
        }
        return html + "</div></article>"
    }

    private var legend: String {
        "<section id=\"legend\"><h2>Weeks</h2><ul class=\"legend\">"
            + ArchiveWeek.State.allCases.map { "<li><span class=\"week \($0.rawValue)\"></span> \(Self.words($0))</li>" }.joined()
            + "</ul></section>"
    }

    static func words(_ state: ArchiveWeek.State) -> String {
        switch state {
        case .present: return "present"
        case .missing: return "missing"
        case .pending: return "downloaded, import pending"
        case .failed: return "failed (tried again)"
        case .overLimit: return "over a limit"
        case .unreadable: return "cannot be imported"
        case .waitingForKey: return "waiting for a key"
        }
    }

    static func day(_ seconds: UInt64) -> String {
        Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(Date.ISO8601FormatStyle().year().month().day())
    }

    /// The token form, for a browser on the TCP listener. The token is posted, never put in a URL.
    static func login(failed: Bool) -> String {
        var body = "<header><h1>community-history</h1></header><main><section id=\"login\"><h2>Sign in</h2>"
        if failed { body += "<p class=\"problem\" role=\"alert\">That is not the agent's token.</p>" }
        body += """
            <p>Paste the token from the agent's cookie file (<code>&lt;database&gt;.cookie</code>, readable by you only; \
            it changes at each start).</p>
            <form method="post" action="/login"><label>Token <input type="password" name="token" required \
            autocomplete="off" size="70"></label> <button type="submit">Sign in</button></form></section></main>
            """
        return document(title: "community-history: sign in", body: body)
    }

    static func document(title: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title><link rel="stylesheet" href="/status.css"><script src="/status.js" defer></script></head>
        <body>\(body)</body></html>
        """
    }
}

/// Text as HTML: `&`, `<`, `>`, `"` and `'` escaped.
func escape(_ text: String) -> String {
    var escaped = ""
    escaped.reserveCapacity(text.count)
    for character in text {
        switch character {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "\"": escaped += "&quot;"
        case "'": escaped += "&#39;"
        default: escaped.append(character)
        }
    }
    return escaped
}
