import AgentService
import Foundation
import Hummingbird

/// The agent's events as Server-Sent Events (text/event-stream):
///
/// ```
/// id: 1764460800000-42
/// event: archive.imported
/// data: {"archiveID":"0x…","community":"0x…","event":"archive.imported",…}
///
/// ```
///
/// A client that reconnects sends the last `id` it saw as `Last-Event-ID` and gets what it
/// missed. When that cannot be done (the agent restarted, or the events were dropped from the
/// buffer) the stream starts with an `event: reset` whose data says so: read the state again.
/// An idle stream sends a `: heartbeat` comment line every `heartbeat`, so a client that went
/// away is noticed (the write fails) and its subscription ends.
enum EventStreamBody {
    enum Item: Sendable {
        case event(EventHub.Event)
        case heartbeat
    }

    static func body(_ subscription: EventHub.Subscription, run: String, heartbeat: Duration) -> ResponseBody {
        ResponseBody { writer in
            if !subscription.resumed {
                let reset = #"{"event":"reset","reason":"events were missed (the agent restarted, or they are no longer kept): read the state again","run":"\#(run)"}"#
                try await writer.write(ByteBuffer(string: "event: reset\ndata: \(reset)\n\n"))
            }
            // Events and heartbeats meet in one stream; only this task writes.
            let (items, post) = AsyncStream.makeStream(of: Item.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await event in subscription.events { post.yield(.event(event)) }
                    post.finish()  // the agent stopped
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: heartbeat)
                        post.yield(.heartbeat)
                    }
                }
                defer { group.cancelAll() }
                for await item in items {
                    switch item {
                    case .event(let event):
                        var text = "id: \(event.id)\nevent: \(event.name)\n"
                        text += "data: " + String(decoding: event.json, as: UTF8.self) + "\n\n"
                        try await writer.write(ByteBuffer(string: text))
                    case .heartbeat:
                        try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    }
                }
            }
            try await writer.finish(nil)
        }
    }
}
