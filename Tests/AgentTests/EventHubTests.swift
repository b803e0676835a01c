import AgentService
import Foundation
import Testing

@Suite(.timeLimit(.minutes(5))) struct EventHubTests {
    func publish(_ hub: EventHub, _ count: Int) {
        for index in 1...count { hub.publish(name: "e\(index)", json: Data("{}".utf8)) }
    }

    @Test func aReaderThatReconnectsGetsWhatItMissedThenLiveEvents() async {
        let hub = EventHub(capacity: 10, run: "7")
        publish(hub, 5)
        let subscription = hub.subscribe(after: "7-3")
        #expect(subscription.resumed)
        hub.publish(name: "live", json: Data("{}".utf8))
        hub.close()
        var names: [String] = []
        for await event in subscription.events { names.append(event.name) }
        #expect(names == ["e4", "e5", "live"])
    }

    @Test func aReaderIsToldWhenWhatItMissedIsGone() {
        let hub = EventHub(capacity: 3, run: "7")
        publish(hub, 6)
        #expect(hub.subscribe(after: "7-3").resumed, "4, 5 and 6 are kept")
        #expect(!hub.subscribe(after: "7-2").resumed, "3 is gone")
        #expect(!hub.subscribe(after: "6-5").resumed, "another run")
        #expect(!hub.subscribe(after: "7-99").resumed, "never sent")
        #expect(!hub.subscribe(after: "garbage").resumed)
        #expect(hub.subscribe(after: nil).resumed)
    }

    @Test func closingEndsEveryReaderAndALeavingReaderIsForgotten() async {
        let hub = EventHub(run: "1")
        let first = hub.subscribe(after: nil)
        do {
            let second = hub.subscribe(after: nil)
            #expect(hub.readerCount == 2)
            _ = second
        }
        hub.close()
        for await _ in first.events {}
        #expect(hub.readerCount == 0)
        var ended = hub.subscribe(after: nil).events.makeAsyncIterator()
        #expect(await ended.next() == nil, "after close, a new reader's stream is over at once")
    }
}
