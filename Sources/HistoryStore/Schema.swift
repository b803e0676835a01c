import GRDB

/// Migrations. Append new ones; never edit a shipped one (docs/schema.md documents the result).
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-history") { db in
            try db.execute(sql: """
                CREATE TABLE message (
                    id TEXT PRIMARY KEY NOT NULL,
                    community_id TEXT NOT NULL,
                    chat_id TEXT,
                    content_topic TEXT NOT NULL,
                    author TEXT NOT NULL,
                    type INTEGER NOT NULL,
                    clock INTEGER,
                    timestamp INTEGER NOT NULL,
                    payload BLOB NOT NULL,
                    text TEXT,
                    third_party_id TEXT,
                    source TEXT NOT NULL CHECK (source IN ('archive', 'local')),
                    archive_id TEXT
                );
                CREATE INDEX message_by_range ON message(community_id, content_topic, timestamp);
                CREATE INDEX message_by_chat ON message(community_id, chat_id, timestamp);

                CREATE TABLE imported_archive (
                    id TEXT PRIMARY KEY NOT NULL,
                    community_id TEXT NOT NULL,
                    cid TEXT NOT NULL,
                    from_time INTEGER NOT NULL,
                    to_time INTEGER NOT NULL,
                    content_topics TEXT NOT NULL,
                    mode TEXT NOT NULL CHECK (mode IN ('replace', 'merge')),
                    message_count INTEGER NOT NULL,
                    stored_count INTEGER NOT NULL,
                    replaced_count INTEGER NOT NULL,
                    unchanged_count INTEGER NOT NULL,
                    removed_count INTEGER NOT NULL,
                    rejected_count INTEGER NOT NULL,
                    rejections TEXT NOT NULL,
                    imported_at INTEGER NOT NULL
                );
                CREATE INDEX imported_archive_by_community ON imported_archive(community_id, from_time);

                CREATE TABLE community_index_state (
                    community_id TEXT PRIMARY KEY NOT NULL,
                    index_cid TEXT,
                    index_clock INTEGER NOT NULL DEFAULT 0,
                    processed_index_cid TEXT,
                    updated_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2-downloads") { db in
            // Archives downloaded and not yet imported: imported on the next start.
            try db.execute(sql: """
                CREATE TABLE downloaded_archive (
                    id TEXT PRIMARY KEY NOT NULL,
                    community_id TEXT NOT NULL,
                    cid TEXT NOT NULL,
                    path TEXT NOT NULL,
                    from_time INTEGER NOT NULL,
                    to_time INTEGER NOT NULL,
                    content_topics TEXT NOT NULL,
                    downloaded_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v3-agent-status") { db in
            try db.execute(sql: """
                ALTER TABLE community_index_state ADD COLUMN last_error TEXT;
                ALTER TABLE community_index_state ADD COLUMN last_success_at INTEGER;
                CREATE TABLE archive_failure (
                    id TEXT PRIMARY KEY NOT NULL,
                    community_id TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    failed_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v4-permanent-rejections") { db in
            // An archive that failed verification is not downloaded again (its bytes are what its
            // CID names) until a decoder of a newer revision might read it.
            try db.execute(sql: """
                ALTER TABLE archive_failure ADD COLUMN permanent INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE archive_failure ADD COLUMN decoder_revision INTEGER;
                """)
        }
        migrator.registerMigration("v5-message-per-community") { db in
            // A message is keyed by its community and ID: IDs (Discord imports' above all) repeat
            // across communities, and one community's archive must never move another's rows.
            // Same columns in the same order as v1.
            try db.execute(sql: """
                CREATE TABLE message_v5 (
                    id TEXT NOT NULL,
                    community_id TEXT NOT NULL,
                    chat_id TEXT,
                    content_topic TEXT NOT NULL,
                    author TEXT NOT NULL,
                    type INTEGER NOT NULL,
                    clock INTEGER,
                    timestamp INTEGER NOT NULL,
                    payload BLOB NOT NULL,
                    text TEXT,
                    third_party_id TEXT,
                    source TEXT NOT NULL CHECK (source IN ('archive', 'local')),
                    archive_id TEXT,
                    PRIMARY KEY (community_id, id)
                );
                INSERT INTO message_v5 SELECT id, community_id, chat_id, content_topic, author, type, clock, timestamp,
                                              payload, text, third_party_id, source, archive_id FROM message;
                DROP TABLE message;
                ALTER TABLE message_v5 RENAME TO message;
                CREATE INDEX message_by_range ON message(community_id, content_topic, timestamp);
                CREATE INDEX message_by_chat ON message(community_id, chat_id, timestamp);
                """)
        }
        migrator.registerMigration("v6-processed-selection") { db in
            // What a processed mark covered: after `--mode latest` or a range, `all` must fetch
            // the same index again. Marks made before this column are taken to cover nothing.
            try db.execute(sql: "ALTER TABLE community_index_state ADD COLUMN processed_selection TEXT")
        }
        migrator.registerMigration("v7-failure-disposition") { db in
            // What becomes of a failed archive, for `status`: retried, waiting for raised limits,
            // or rejected. Before, over-limit archives were counted as "failed (retried)".
            try db.execute(sql: """
                ALTER TABLE archive_failure ADD COLUMN disposition TEXT NOT NULL DEFAULT 'retrying';
                UPDATE archive_failure SET disposition = 'rejected' WHERE permanent = 1;
                """)
        }
        migrator.registerMigration("v8-compact-messages") { db in
            // Each message row used to repeat its community ID (68 characters), chat ID (~104) and
            // content topic as text, and so did every index entry: 1,300 bytes a message, and an
            // archive's rows took twice as long to write (measured: 1.74 s against 0.88 s for
            // 100,000). They are now small integers into tables that name them once. `message`
            // becomes a view with the old columns, so every reader (and a chat client inserting its
            // local copies) sees what it saw before. IDs stay text: Discord imports' are not hex.
            try db.execute(sql: """
                CREATE TABLE community_ref (ref INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
                CREATE TABLE chat_ref (ref INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
                CREATE TABLE topic_ref (ref INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
                CREATE TABLE archive_ref (ref INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
                INSERT INTO community_ref (value) SELECT DISTINCT community_id FROM message;
                INSERT INTO chat_ref (value) SELECT DISTINCT chat_id FROM message WHERE chat_id IS NOT NULL;
                INSERT INTO topic_ref (value) SELECT DISTINCT content_topic FROM message;
                INSERT INTO archive_ref (value) SELECT DISTINCT archive_id FROM message WHERE archive_id IS NOT NULL;

                CREATE TABLE message_row (
                    community_ref INTEGER NOT NULL REFERENCES community_ref,
                    id TEXT NOT NULL,
                    chat_ref INTEGER REFERENCES chat_ref,
                    topic_ref INTEGER NOT NULL REFERENCES topic_ref,
                    author TEXT NOT NULL,
                    type INTEGER NOT NULL,
                    clock INTEGER,
                    timestamp INTEGER NOT NULL,
                    payload BLOB NOT NULL,
                    text TEXT,
                    third_party_id TEXT,
                    is_archived INTEGER NOT NULL CHECK (is_archived IN (0, 1)),
                    archive_ref INTEGER REFERENCES archive_ref,
                    PRIMARY KEY (community_ref, id)
                );
                INSERT INTO message_row
                SELECT c.ref, m.id, h.ref, t.ref, m.author, m.type, m.clock, m.timestamp, m.payload, m.text,
                       m.third_party_id, m.source = 'archive', a.ref
                FROM message AS m
                JOIN community_ref AS c ON c.value = m.community_id
                LEFT JOIN chat_ref AS h ON h.value = m.chat_id
                JOIN topic_ref AS t ON t.value = m.content_topic
                LEFT JOIN archive_ref AS a ON a.value = m.archive_id
                ORDER BY m.timestamp;
                DROP TABLE message;
                CREATE INDEX message_row_by_range ON message_row(community_ref, topic_ref, timestamp);
                CREATE INDEX message_row_by_chat ON message_row(community_ref, chat_ref, timestamp);

                CREATE VIEW message AS
                SELECT m.id AS id, c.value AS community_id, h.value AS chat_id, t.value AS content_topic,
                       m.author AS author, m.type AS type, m.clock AS clock, m.timestamp AS timestamp,
                       m.payload AS payload, m.text AS text, m.third_party_id AS third_party_id,
                       CASE m.is_archived WHEN 1 THEN 'archive' ELSE 'local' END AS source, a.value AS archive_id
                FROM message_row AS m
                JOIN community_ref AS c ON c.ref = m.community_ref
                LEFT JOIN chat_ref AS h ON h.ref = m.chat_ref
                JOIN topic_ref AS t ON t.ref = m.topic_ref
                LEFT JOIN archive_ref AS a ON a.ref = m.archive_ref;

                \(Self.messageInsertTrigger)
                """)
        }
        migrator.registerMigration("v9-pending-archive-rows") { db in
            // An import now writes an archive's rows in chunks of short transactions (a chat
            // client's write waits for one chunk, not for the whole archive), under a *pending*
            // archive reference (`pending_owner`: the import's staging file, since issue 28 its
            // claim file, whose `flock` says whether the import still runs). The view hides the pending rows, except the local
            // copies the archive replaced (`replaced_local`), which it shows as they were: local
            // copies, until one last short transaction publishes the archive. Readers see an
            // archive all at once or not at all. The index finds a pending archive's rows, to
            // count, publish or remove them.
            try db.execute(sql: """
                ALTER TABLE archive_ref ADD COLUMN pending_owner TEXT;
                ALTER TABLE message_row ADD COLUMN replaced_local INTEGER CHECK (replaced_local IN (1));
                CREATE INDEX message_row_by_archive ON message_row(archive_ref, replaced_local);
                DROP VIEW message;
                CREATE VIEW message AS
                SELECT m.id AS id, c.value AS community_id, h.value AS chat_id, t.value AS content_topic,
                       m.author AS author, m.type AS type, m.clock AS clock, m.timestamp AS timestamp,
                       m.payload AS payload, m.text AS text, m.third_party_id AS third_party_id,
                       CASE WHEN m.is_archived = 1 AND a.pending_owner IS NULL THEN 'archive' ELSE 'local' END AS source,
                       CASE WHEN a.pending_owner IS NULL THEN a.value END AS archive_id
                FROM message_row AS m
                JOIN community_ref AS c ON c.ref = m.community_ref
                LEFT JOIN chat_ref AS h ON h.ref = m.chat_ref
                JOIN topic_ref AS t ON t.ref = m.topic_ref
                LEFT JOIN archive_ref AS a ON a.ref = m.archive_ref
                WHERE a.pending_owner IS NULL OR m.replaced_local = 1;

                -- As v8's, with one difference: a copy of a message an import is writing (its
                -- archive pending) is skipped, whatever the firing statement's conflict policy: an
                -- INSERT OR REPLACE would otherwise turn the archive's row into a local copy, which
                -- publishing the archive then deletes as a local copy the archive does not hold.
                CREATE TRIGGER message_insert INSTEAD OF INSERT ON message BEGIN
                    \(Self.namingReferences)
                    INSERT INTO message_row (community_ref, id, chat_ref, topic_ref, author, type, clock, timestamp,
                                             payload, text, third_party_id, is_archived, archive_ref)
                    SELECT (SELECT ref FROM community_ref WHERE value = NEW.community_id), NEW.id,
                        (SELECT ref FROM chat_ref WHERE value = NEW.chat_id),
                        (SELECT ref FROM topic_ref WHERE value = NEW.content_topic),
                        NEW.author, NEW.type, NEW.clock, NEW.timestamp, NEW.payload, NEW.text, NEW.third_party_id,
                        CASE NEW.source WHEN 'archive' THEN 1 WHEN 'local' THEN 0 END,
                        (SELECT ref FROM archive_ref WHERE value = NEW.archive_id)
                    WHERE NOT EXISTS (
                        SELECT 1 FROM message_row AS m JOIN archive_ref AS a ON a.ref = m.archive_ref
                        WHERE m.community_ref = (SELECT ref FROM community_ref WHERE value = NEW.community_id)
                          AND m.id = NEW.id AND a.pending_owner IS NOT NULL);
                END;
                """)
        }
        migrator.registerMigration("v10-chat-view-and-followed") { db in
            // A chat view pages the whole community by time, newest first: without this index the
            // listing sorted every row of the community (1.4 s at 1,000,000). A channel's page uses
            // message_row_by_chat. Ties on a timestamp are ordered by ID (sorted per timestamp).
            //
            // followed_community: communities a chat client joined through the local API (the
            // configuration file's are not here), with their settings as JSON, so that a restart
            // follows them again.
            try db.execute(sql: """
                CREATE INDEX message_row_by_time ON message_row(community_ref, timestamp);
                CREATE TABLE followed_community (
                    community_id TEXT PRIMARY KEY NOT NULL,
                    settings TEXT NOT NULL,
                    joined_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v11-index-entries") { db in
            // The archives the community's newest index lists, so that `status` can say week by
            // week what is present, missing, pending or unreadable.
            try db.execute(sql: """
                CREATE TABLE index_entry (
                    community_id TEXT NOT NULL,
                    archive_id TEXT NOT NULL,
                    cid TEXT NOT NULL,
                    from_time INTEGER NOT NULL,
                    to_time INTEGER NOT NULL,
                    index_cid TEXT NOT NULL,
                    PRIMARY KEY (community_id, archive_id)
                );
                """)
        }
        migrator.registerMigration("v12-channel-names") { db in
            // Channel names from the community's newest signed description (which archives do
            // not carry): `messages` and the API show `#general`, not a UUID.
            try db.execute(sql: """
                CREATE TABLE channel_directory (
                    community_id TEXT PRIMARY KEY,
                    clock INTEGER NOT NULL
                );
                CREATE TABLE channel_name (
                    community_id TEXT NOT NULL,
                    chat_id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    PRIMARY KEY (community_id, chat_id)
                );
                """)
        }
        migrator.registerMigration("v13-key-waits") { db in
            // An encrypted community's index or archive whose group key the member does not hold
            // yet: waiting for `keys import`, not failed, and not retried on a timer. A waiting
            // archive keeps its download (`downloaded_archive`), so it is not downloaded again.
            try db.execute(sql: """
                CREATE TABLE key_wait (
                    community_id TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('index', 'archive')),
                    item TEXT NOT NULL,
                    group_id TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    since INTEGER NOT NULL,
                    PRIMARY KEY (community_id, kind, item)
                );
                """)
        }
        migrator.registerMigration("v14-held-messages") { db in
            // Encrypted messages inside an imported archive whose key the member does not hold:
            // kept raw, so that when the key comes they are opened, verified and stored as the
            // archive's without downloading it again.
            try db.execute(sql: """
                CREATE TABLE held_message (
                    community_id TEXT NOT NULL,
                    archive_id TEXT NOT NULL,
                    entry_id TEXT NOT NULL,
                    group_id TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    entry BLOB NOT NULL,
                    held_at INTEGER NOT NULL,
                    PRIMARY KEY (community_id, archive_id, entry_id)
                );
                CREATE INDEX held_message_by_key ON held_message(key_id);
                """)
        }
        migrator.registerMigration("v15-chat-keys") { db in
            // The symmetric keys of the public chats the agent hears (each community's archive
            // channels and its own chat): PBKDF2 of the chat ID, 65,356 rounds, three per
            // community. Derived once and kept, so that a start with a thousand communities
            // derives none. They protect nothing the chat ID does not give away (anyone can
            // derive them), so they are kept as they are.
            try db.execute(sql: """
                CREATE TABLE chat_key (
                    chat_id TEXT PRIMARY KEY NOT NULL,
                    key BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v16-store-catch-up") { db in
            // Where each community's last store catch-up that answered in full ended (Unix
            // milliseconds): a restart asks the store from there, not for 30 days again.
            try db.execute(sql: """
                CREATE TABLE store_catch_up (
                    community_id TEXT PRIMARY KEY NOT NULL,
                    caught_up_to INTEGER NOT NULL
                );
                """)
        }
        return migrator
    }

    /// Names what a row written into the `message` view refers to (both versions of its trigger).
    private static let namingReferences = """
        INSERT INTO community_ref (value) SELECT NEW.community_id
            WHERE NOT EXISTS (SELECT 1 FROM community_ref WHERE value = NEW.community_id);
        INSERT INTO chat_ref (value) SELECT NEW.chat_id
            WHERE NEW.chat_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM chat_ref WHERE value = NEW.chat_id);
        INSERT INTO topic_ref (value) SELECT NEW.content_topic
            WHERE NOT EXISTS (SELECT 1 FROM topic_ref WHERE value = NEW.content_topic);
        INSERT INTO archive_ref (value) SELECT NEW.archive_id
            WHERE NEW.archive_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM archive_ref WHERE value = NEW.archive_id);
        """

    /// Lets a chat client insert its local copies into the `message` view (v8).
    private static let messageInsertTrigger = """
        -- A row written into the view goes to message_row, naming what it refers to first,
        -- with NOT EXISTS rather than OR IGNORE: a conflict policy on the firing statement
        -- replaces the trigger's own, and under INSERT OR REPLACE an OR IGNORE here would
        -- become REPLACE and renumber a name that rows refer to. The firing statement's
        -- policy (INSERT OR IGNORE for a copy already stored) applies to the row.
        CREATE TRIGGER message_insert INSTEAD OF INSERT ON message BEGIN
            \(namingReferences)
            INSERT INTO message_row VALUES (
                (SELECT ref FROM community_ref WHERE value = NEW.community_id), NEW.id,
                (SELECT ref FROM chat_ref WHERE value = NEW.chat_id),
                (SELECT ref FROM topic_ref WHERE value = NEW.content_topic),
                NEW.author, NEW.type, NEW.clock, NEW.timestamp, NEW.payload, NEW.text, NEW.third_party_id,
                CASE NEW.source WHEN 'archive' THEN 1 WHEN 'local' THEN 0 END,
                (SELECT ref FROM archive_ref WHERE value = NEW.archive_id));
        END;
        """
}
