import Foundation
import HistoryStore
import StatusCrypto
import StatusWire
import Synchronization
import Testing
@testable import AgentService
@testable import ArchiveImport
import SyncEngine

/// Issue 23: the event stream is a public contract (the events file, `GET /v1/events`), written
/// down in `docs/events.schema.json`. Every event the agent can write validates against it, and
/// a field the schema does not document fails.
@Suite(.timeLimit(.minutes(5))) struct EventSchemaTests {
    static let community = try! CommunityID("0x02" + String(repeating: "ab", count: 32))
    static let archive = ArchiveID(hashing: [1])
    static let cid = try! CID.codex(of: [1]).manifestCID

    /// One of every event type, with every optional field filled where the type has one.
    static var everyEvent: [AgentEvent] {
        let failure = ArchiveFailure(.rejected, step: .import, "malformed protobuf", rejection: .malformed)
        let database = ArchiveFailure.database(.full, step: .import, CocoaError(.fileWriteOutOfSpace))
        let imported = ArchiveImportResult(archiveID: archive, cid: cid.string, from: 0, to: 604_800, compression: .zlib, entries: 3,
                                           counts: HydrationCounts(stored: 2, replaced: 1), rejected: [.invalidSignature: 1])
        let wait = KeyWait(communityID: community.string, kind: .archive, item: archive.string, groupID: "0x01", keyID: "0x02", since: 0)
        let sync: [SyncEvent] = [
            .announcementAccepted(clock: 7, indexCID: cid.string),
            .announcementIgnored(.notSignedByCommunity(signer: "0x03")),
            .announcementIgnored(.olderClock(clock: 1, stored: 2)),
            .announcementIgnored(.alreadyProcessed(cid: cid.string)),
            .indexDownloaded(indexCID: cid.string, archives: 9, rejectedEntries: 1),
            .planned(archives: 3, knownBad: [archive: failure]),
            .downloadStarted(archiveID: archive, cid: cid.string),
            .downloadProgress(archiveID: archive, bytes: 5, totalBytes: 10),
            .archiveDownloaded(archiveID: archive, from: 0, to: 604_800, bytes: 10),
            .importingArchive(archiveID: archive),
            .importProgress(archiveID: archive, entries: 1_000),
            .archiveImported(imported),
            .archiveFailed(archiveID: archive, failure: failure),
            .archiveFailed(archiveID: archive, failure: database),
            .archiveFailed(archiveID: archive, failure: ArchiveFailure(.peerUnreachable, step: .download, "connection refused")),
            .waitingForKey(wait),
            .heldMessagesReleased(archives: 1, stored: 2, replaced: 0),
            .recordFailed(what: "an archive failure", error: "database is locked"),
            .finished(.completed(indexCID: cid, imported: 9, unimportable: [archive: failure])),
            .finished(.failed(.archives([archive: database]))),
            .finished(.failed(.index(cid, ArchiveFailure(.waitingForKey, step: .index, "waiting for key 0x02 of group 0x01")))),
            .finished(.nothingToDo),
            .waiting(.quietWindow, delay: .seconds(20)),
            .waiting(.retry, delay: .milliseconds(5_500)),
        ]
        return [
            .agentStarted(communities: [community]),
            .agentStopped,
            .communityJoined(community),
            .communityLeft(community, purged: true, messagesDeleted: 12),
            .communitySkipped(communityID: "0x02zz", error: "mode: not a mode"),
            .communityStartFailed(community, error: "cannot make the archives directory", attempt: 2, retryIn: .seconds(5)),
            .configurationReloaded(ReloadSummary(started: [community.string], needRestart: ["database"])),
            .configurationReloadFailed(error: "line 3: not JSON"),
            .keysImported(added: 2, known: 1, resumed: [community]),
            .keysUnreadable(path: "/tmp/history.sqlite.keys", error: "not JSON lines"),
            .messagesReleased(archives: 1, stored: 3, replaced: 0),
            .storeFailed(reason: "HTTP 503", retryable: true, pubsubTopic: "/waku/2/rs/16/32"),
        ] + sync.map { .sync(community: community, $0) }
    }

    /// The JSON lines the events file gets for `events`.
    static func lines(_ events: [AgentEvent]) -> [Data] {
        let lines = Mutex<[Data]>([])
        let log = EventLog(writer: { line in lines.withLock { $0.append(line) } })
        for event in events { log.write(event) }
        return lines.withLock { $0 }
    }

    static func problems(_ line: Data, _ schema: OpenAPIContract) throws -> [String] {
        schema.problems(of: try JSONDecoder().decode(JSONValue.self, from: line))
    }

    @Test func everyEventTheAgentCanWriteValidates() throws {
        let schema = try OpenAPIContract.events()
        let lines = Self.lines(Self.everyEvent)
        #expect(lines.count == Self.everyEvent.count, "every event was written")
        for line in lines {
            let problems = try Self.problems(line, schema)
            #expect(problems.isEmpty, "\(String(decoding: line, as: UTF8.self)): \(problems)")
        }
        // Every event type of the schema is written by one of them: none is documented and dead.
        let written = Set(lines.compactMap { try? JSONDecoder().decode(JSONValue.self, from: $0)["event"]?.stringValue })
        let documented = Set(schema.definitions.values.compactMap {
            ((($0 as? [String: Any])?["properties"] as? [String: Any])?["event"] as? [String: Any])?["enum"] as? [String]
        }.flatMap { $0 })
        #expect(written == documented)
    }

    /// A field the schema does not name fails, as does a wrong type or a value outside an enum:
    /// the check cannot pass an event because it ignored something.
    @Test func anUndocumentedFieldFails() throws {
        let schema = try OpenAPIContract.events()
        let line = try #require(Self.lines([.communityJoined(Self.community)]).first)
        var object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
        #expect(try Self.problems(line, schema).isEmpty)
        object["surprise"] = 1
        #expect(try !Self.problems(try JSONSerialization.data(withJSONObject: object), schema).isEmpty)
        object["surprise"] = nil
        object["schemaVersion"] = 2
        #expect(try !Self.problems(try JSONSerialization.data(withJSONObject: object), schema).isEmpty)
        object["schemaVersion"] = 1
        object["event"] = "community.joined-maybe"
        #expect(try !Self.problems(try JSONSerialization.data(withJSONObject: object), schema).isEmpty)
    }

    /// The schema uses only the keywords the checker checks (or that only document).
    @Test func theSchemaUsesOnlyCheckedKeywords() throws {
        let schema = try OpenAPIContract.events()
        let unknown = schema.keywordsUsed.subtracting(OpenAPIContract.checked).subtracting(OpenAPIContract.documentary)
        #expect(unknown.isEmpty, "\(unknown)")
    }
}
