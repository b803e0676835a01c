// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "community-history",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "community-history", targets: ["community-history"]),
        .library(name: "StatusCrypto", targets: ["StatusCrypto"]),
        .library(name: "StatusWire", targets: ["StatusWire"]),
        .library(name: "HistoryStore", targets: ["HistoryStore"]),
        .library(name: "ArchiveImport", targets: ["ArchiveImport"]),
        .library(name: "ControlNode", targets: ["ControlNode"]),
        .library(name: "CodexClient", targets: ["CodexClient"]),
        .library(name: "WakuClient", targets: ["WakuClient"]),
        .library(name: "SyncMachine", targets: ["SyncMachine"]),
        .library(name: "SyncEngine", targets: ["SyncEngine"]),
        .library(name: "DemoNetwork", targets: ["DemoNetwork"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // The agent's local API. Its default traits pull in swift-configuration and full Foundation,
        // which the API does not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // System libraries from Debian (libsecp256k1-dev, zlib1g-dev).
        .systemLibrary(
            name: "CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"]), .brew(["secp256k1"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        // glibc's <malloc.h> (mallopt), for the command's memory settings.
        .systemLibrary(name: "CMalloc"),

        // Hashes, signatures, symmetric keys: no protobuf, no I/O.
        .target(
            name: "StatusCrypto",
            dependencies: [
                "CSecp256k1",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // The member's hash-ratchet group keys (encrypted communities), in a file apart from the
        // history that only the user can read.
        .target(name: "GroupKeys", dependencies: ["StatusCrypto"]),
        // Protobuf schemas and the layer codecs: envelope, segments, archives, index.
        .target(
            name: "StatusWire",
            dependencies: [
                "StatusCrypto",
                "CZlib",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The failures every layer names (plain enums, no I/O): a database failure's kind.
        .target(name: "Failures"),
        // The one retry schedule (exponential, capped, jittered) of every retry, and SplitMix64:
        // the sync machine's seeded jitter, the fixtures' seeded bytes.
        .target(name: "Backoff"),
        // SQLite schema and the hydration transaction. Knows the wire's identifiers, not its codecs.
        .target(
            name: "HistoryStore",
            dependencies: [
                "Failures",
                // The wire's identifiers (archive ID, CID, content topic), stored and read back typed.
                "StatusWire", "StatusCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the import's per-message insert (ArchiveHydrationWriter).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The fixture directory format: a community's blobs named by CID, its manifest, the local
        // copies a chat client held, the expected replay report.
        .target(name: "Fixtures", dependencies: ["StatusWire", "StatusCrypto", "HistoryStore"]),
        // Composes decode + verify + hydrate for one archive, and the offline replay.
        .target(
            name: "ArchiveImport",
            dependencies: [
                "Failures",
                "StatusWire",
                "HistoryStore",
                "Fixtures",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The control-node side: builds signed messages, archives, index and CIDs, and fixtures.
        // Not the importer: what it writes is checked by code it does not share.
        .target(
            name: "ControlNode",
            dependencies: [
                "StatusWire", "StatusCrypto", "CZlib", "HistoryStore", "Fixtures", "Backoff",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // HTTP plumbing shared by the peer clients: a transport protocol (AsyncHTTPClient behind
        // it), timeouts, a progress watchdog, retries with backoff.
        .target(
            name: "PeerHTTP",
            dependencies: [
                "Backoff",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The Codex node REST API (/api/codex/v1). Knows nothing of SQLite.
        .target(name: "CodexClient", dependencies: ["PeerHTTP", "StatusWire"]),
        // The nwaku REST API: store v3, relay, health.
        .target(name: "WakuClient", dependencies: ["PeerHTTP", "StatusWire"]),
        // The per-community state machine and the planner: pure (events in, actions out), no
        // Foundation, no I/O. That it imports neither is checked by the build.
        .target(name: "SyncMachine", dependencies: ["StatusWire", "StatusCrypto", "Failures", "Backoff"]),
        // The driver that runs the machine through its effects (clients, importer, store), and
        // the announcement feed (relay and store intake) that hands it announcements.
        .target(
            name: "SyncEngine",
            dependencies: [
                "SyncMachine", "CodexClient", "WakuClient", "PeerHTTP", "ArchiveImport", "HistoryStore", "StatusWire", "StatusCrypto",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Above the engine: one-shot `sync` (the feed's catch-up, one driver, a report).
        .target(
            name: "OneShot",
            dependencies: [
                "SyncEngine", "ChannelNameFeed", "CodexClient", "WakuClient", "PeerHTTP", "ArchiveImport", "HistoryStore", "StatusWire", "StatusCrypto",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Above the engine: channel names, from the community's signed description (a companion
        // of the announcement feed).
        .target(
            name: "ChannelNameFeed",
            dependencies: ["SyncEngine", "WakuClient", "HistoryStore", "StatusWire", "StatusCrypto", .product(name: "Logging", package: "swift-log")]
        ),
        // Above the engine: `doctor`'s checks of the storage and Waku nodes, the database and the disk.
        .target(name: "PeerDoctor", dependencies: ["SyncEngine", "CodexClient", "WakuClient", "PeerHTTP", "HistoryStore"]),
        // The long-running agent above the engine: its configuration file, the relay and store
        // polling that feeds the drivers, events, metrics and the health endpoint.
        .target(
            name: "AgentService",
            dependencies: [
                "SyncEngine", "ChannelNameFeed", "PeerDoctor", "CodexClient", "WakuClient", "PeerHTTP", "ArchiveImport", "HistoryStore", "StatusWire",
                "LocalHTTPServer", "GroupKeys",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The local API a chat client uses (Hummingbird, on a Unix socket and optionally on
        // 127.0.0.1 with a bearer token): communities, messages, local copies, events, health; and
        // the status page a person looks at (StatusPage/).
        .target(
            name: "AgentAPI",
            dependencies: [
                "AgentService", "HistoryStore", "SyncEngine", "ArchiveImport", "PeerDoctor", "StatusCrypto", "StatusWire", "GroupKeys",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A small HTTP/1.1 server on 127.0.0.1 (SwiftNIO): the agent's health and metrics
        // endpoint, and the demo network's nodes.
        .target(
            name: "LocalHTTPServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Loopback servers speaking the Codex and nwaku REST APIs, and the publisher that puts
        // a fixture community on them.
        .target(
            name: "DemoNetwork",
            dependencies: [
                "StatusWire", "StatusCrypto", "ControlNode", "Fixtures", "WakuClient", "CodexClient", "LocalHTTPServer",
            ]
        ),
        .executableTarget(
            name: "community-history",
            dependencies: [
                "ArchiveImport",
                "Fixtures",
                "CMalloc",
                "ControlNode",
                "HistoryStore",
                "SyncEngine",
                "OneShot",
                "PeerDoctor",
                "AgentService",
                "AgentAPI",
                "GroupKeys",
                "DemoNetwork",
                "PeerHTTP", "CodexClient", "WakuClient", "StatusWire", "LocalHTTPServer",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // The benchmark's probe writes as a chat client does, from its own connection.
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),

        .testTarget(name: "StatusCryptoTests", dependencies: ["StatusCrypto", "GroupKeys"]),
        .testTarget(
            name: "StatusWireTests",
            dependencies: ["StatusWire", "ControlNode", "GroupKeys"],
            resources: [.copy("Resources")]
        ),
        .testTarget(
            name: "HistoryStoreTests",
            dependencies: ["HistoryStore", "StatusWire", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "ArchiveImportTests", dependencies: ["ArchiveImport", "Fixtures", "ControlNode", "GroupKeys", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "SyncEngineTests", dependencies: ["SyncEngine", "OneShot", "ChannelNameFeed", "PeerDoctor", "SyncMachine", "Backoff", "Fixtures", "DemoNetwork", "LocalHTTPServer", "ControlNode", "HistoryStore", "GroupKeys", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "AgentTests",
            dependencies: ["AgentService", "AgentAPI", "SyncEngine", "OneShot", "PeerDoctor", "ArchiveImport", "PeerHTTP", "DemoNetwork", "ControlNode", "Fixtures",
                           .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        .testTarget(name: "PeerClientTests", dependencies: ["CodexClient", "WakuClient", "DemoNetwork", "ControlNode", "LocalHTTPServer"]),
    ]
)
