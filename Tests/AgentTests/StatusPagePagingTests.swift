import AgentService
import Testing
@testable import AgentAPI

/// Issue 29: the status page shows the followed communities fifty at a time. Past the first
/// page a person can go back to the first, and a page with more after it links to the next.
/// (The agent behind it is `theCommunityListIsPaged`'s; this is what the page says of it.)
@Suite struct StatusPagePagingTests {
    func page(after: String?, next: String?, followed: Int) -> String {
        StatusPageView(health: AgentHealth(checks: []), communities: [], heldKeyIDs: [], problems: [], databasePath: "history.sqlite",
                       followedCount: followed, after: after, next: next).render()
    }

    @Test func aPageWithMoreAfterItLinksToTheNext() {
        let first = page(after: nil, next: "0x02aa", followed: 120)
        #expect(first.contains("<a href=\"/?after=0x02aa\" rel=\"next\">next page</a>"))
        #expect(first.contains("of 120 communities shown") && !first.contains("first page"))
        let last = page(after: "0x02aa", next: nil, followed: 120)
        #expect(last.contains("<a href=\"/\">first page</a>") && !last.contains("next page"))
        // A single page says nothing of pages.
        #expect(!page(after: nil, next: nil, followed: 2).contains("communities shown"))
    }
}
