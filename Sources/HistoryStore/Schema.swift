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
        return migrator
    }
}
