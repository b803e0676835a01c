import AgentAPI
import AgentService
import AsyncHTTPClient
import Foundation
import HistoryStore
import NIOCore
import NIOHTTP1
import Testing

/// Issue 23: the status page, over the agent's TCP listener, as a browser meets it: the sign-in
/// form (the token posted, never in a URL), a session cookie, the same access rules as the API
/// (a foreign Host or a cross-origin form refused), a strict Content-Security-Policy, and a page
/// that says what a person needs without JavaScript. (What a person sees in a real browser is
/// `scripts/status-page-browser-check.sh`, run by `.ci/run`.)
@Suite(.serialized, .timeLimit(.minutes(5))) struct StatusPageTests {
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// A browser's requests, without following redirects (the test reads each answer).
    final class Browser: Sendable {
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        let port: Int

        init(port: Int) { self.port = port }

        func send(_ method: HTTPMethod, _ path: String, host: String? = nil, origin: String? = nil, cookie: String? = nil,
                  site: String? = nil, form: String? = nil) async throws -> Answer {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = method
            if let host { request.headers.replaceOrAdd(name: "Host", value: host) }
            if let origin { request.headers.add(name: "Origin", value: origin) }
            if let cookie { request.headers.add(name: "Cookie", value: cookie) }
            if let site { request.headers.add(name: "Sec-Fetch-Site", value: site) }
            if let form {
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(ByteBuffer(string: form))
            }
            let response = try await http.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 8 << 20)
            var headers: [String: String] = [:]
            for header in response.headers { headers[header.name.lowercased()] = header.value }
            return Answer(status: Int(response.status.code), headers: headers, body: String(buffer: body))
        }

        func shutdown() async throws { try await http.shutdown() }
    }

    @Test func aPersonSignsInWithTheTokenAndSeesEachCommunitysWeeks() async throws {
        let setup = try await AgentTests.setUp()
        let communityID = setup.first.community.communityID.string
        try await setup.first.announce(on: setup.waku, clock: UInt64(Date().timeIntervalSince1970 * 1000))
        var configuration = setup.configuration(metricsPort: nil)
        configuration.communities = [configuration.communities[0]]
        configuration.apiPort = 0
        let running = try await AgentAPITests.start(configuration)
        let database = try HistoryDatabase(path: configuration.database!)
        // Imported, and the agent done with the plan: the 9th archive is visible a moment before the
        // import returns (it waits for its last checkpoint) and the agent goes idle (CI, 2026-12-05).
        try await AgentTests.waitUntil {
            guard try database.importedArchiveIDs(communityID: communityID).count == 9 else { return false }
            let status = try await running.agent.followedCommunities().first
            return status?.state == "idle" && status?.history?.lastSuccessAt != nil
        }
        let port = try #require(running.server.listeningPort.withLock { $0 })
        let browser = Browser(port: port)
        let token = try String(contentsOfFile: configuration.cookiePath, encoding: .utf8)
        let origin = "http://127.0.0.1:\(port)"

        // Not signed in: the form, which never shows the token; a token in the URL is not taken.
        let anonymous = try await browser.send(.GET, "/")
        #expect(anonymous.status == 200 && anonymous.body.contains("Sign in") && !anonymous.body.contains(communityID))
        #expect(!anonymous.body.contains(token))
        let inURL = try await browser.send(.GET, "/?token=\(token)")
        #expect(inURL.body.contains("Sign in") && !inURL.body.contains(communityID))
        #expect(try await browser.send(.GET, "/v1/communities").status == 401)

        // A wrong token: the form again; a form posted from another site: refused.
        let wrong = try await browser.send(.POST, "/login", origin: origin, form: "token=0123")
        #expect(wrong.status == 401 && wrong.body.contains("not the agent's token"))
        #expect(try await browser.send(.POST, "/login", origin: "http://evil.example", form: "token=\(token)").status == 403)

        // The token, posted from the page: a session cookie only this origin's requests carry.
        let signedIn = try await browser.send(.POST, "/login", origin: origin, form: "token=\(token)")
        #expect(signedIn.status == 303 && signedIn.headers["location"] == "/")
        let setCookie = try #require(signedIn.headers["set-cookie"])
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && !setCookie.contains(token))
        #expect(setCookie.hasPrefix("community-history-session-\(port)="), "named after the port: \(setCookie)")
        let cookie = String(setCookie.split(separator: ";")[0])

        // The page: the community, one strip cell per week, progress complete, the waiting archive.
        let page = try await browser.send(.GET, "/", cookie: cookie)
        #expect(page.status == 200 && page.headers["content-type"]?.hasPrefix("text/html") == true)
        let policy = try #require(page.headers["content-security-policy"])
        #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"))
        #expect(page.body.contains("data-community=\"\(communityID)\""))
        #expect(page.body.components(separatedBy: "<li class=\"week present\"").count - 1 == 9, "one cell per imported week")
        #expect(page.body.contains("<li class=\"week waiting-for-key\""))
        #expect(page.body.contains("value=\"100\" data-progress") && page.body.contains("up to date"))
        #expect(!page.body.contains("<script>"), "no inline script: the policy forbids it")
        // The session opens the page (and its event stream), not the rest of the API: that wants the token.
        #expect(try await browser.send(.GET, "/v1/communities", cookie: cookie).status == 401)
        #expect(try await browser.send(.GET, "/", cookie: cookie, site: "same-site").status == 403, "another port of 127.0.0.1")
        #expect(try await browser.send(.GET, "/", cookie: cookie, site: "none").status == 200, "an address typed in")
        // A page position that is not a community ID is said, not silently taken for the first page.
        let badPage = try await browser.send(.GET, "/?after=0xnope", cookie: cookie)
        #expect(badPage.status == 400 && badPage.body.contains("0xnope is not a community ID") && badPage.body.contains("data-community=\"\(communityID)\""))

        // Another name for this machine (DNS rebinding) is refused, session or not.
        #expect(try await browser.send(.GET, "/", host: "evil.example:\(port)", cookie: cookie).status == 403)
        // A form posted from another origin does nothing; from the page, it rescans.
        #expect(try await browser.send(.POST, "/communities/\(communityID)/rescan", origin: "http://evil.example", cookie: cookie).status == 403)
        #expect(try await browser.send(.POST, "/communities/\(communityID)/rescan", cookie: cookie).status == 403, "no Origin")
        let rescan = try await browser.send(.POST, "/communities/\(communityID)/rescan", origin: origin, cookie: cookie)
        #expect(rescan.status == 303 && rescan.headers["location"] == "/")
        // A bad join says why, on the page.
        let badJoin = try await browser.send(.POST, "/communities", origin: origin, cookie: cookie, form: "id=0xnot-a-community&mode=all")
        #expect(badJoin.status == 400 && badJoin.body.contains("cannot join 0xnot-a-community"), "\(badJoin.body)")
        let damaged = try await browser.send(.POST, "/communities", origin: origin, cookie: cookie, form: "id=%zz&mode=all")
        #expect(damaged.status == 400 && damaged.body.contains("encoding is damaged"), "\(damaged.body)")

        try await browser.shutdown()
        try await running.stop()
        await setup.stop()
    }
}
