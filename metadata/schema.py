"""SQLite schemas of the catalog shard and the object shards, with ordered migrations.

Each database has a `schema_version` table holding one integer; `migrate()` applies, in one
transaction each, every migration numbered above it. Migrations are append-only: a released
migration is never edited, a change is a new numbered step.

Object keys are stored as BLOBs of their UTF-8 bytes, so SQLite's memcmp ordering is S3's
byte order (`foo+1/` < `foo/`). Version rows are keyed by `rev`, the inverted 12-byte version
id, so an ascending scan of (bucket_id, key, rev) lists each key's versions newest first and
the first row of a key is its current version.
"""

from __future__ import annotations

import sqlite3

# Request ids of applied commands and their first results (dedup.py), in every shard.
_REQUESTS = """
    CREATE TABLE requests (
        request_id TEXT PRIMARY KEY,
        raft_index INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        result BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX requests_by_index ON requests (raft_index);
    CREATE INDEX requests_by_time ON requests (at_ms);
"""

CATALOG_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE buckets (
        name TEXT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        owner_id TEXT NOT NULL,
        versioning TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        region TEXT NOT NULL,
        policy TEXT,
        policy_updated_ms INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE users (
        user_id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        arn TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        is_root INTEGER NOT NULL
    );
    CREATE TABLE access_keys (
        access_key_id TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users(user_id),
        status TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX access_keys_by_user ON access_keys(user_id);
    CREATE TABLE user_policies (
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        document TEXT NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (user_id, name)
    ) WITHOUT ROWID;
    """,
    # 2: the last applied Raft index, written in the same transaction as each command.
    """
    CREATE TABLE applied (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        raft_index INTEGER NOT NULL
    );
    """,
    # 3: bucket configuration documents (CORS, tagging, lifecycle, ...), one per (bucket, kind).
    """
    CREATE TABLE bucket_configs (
        bucket_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        document TEXT NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (bucket_id, kind)
    ) WITHOUT ROWID;
    """,
    # 4: request ids of applied commands and their first results (dedup.py).
    _REQUESTS,
    # 5: the repair queue (repair_queue.py): shards reported missing or corrupt, one row per
    # shard; AUTOINCREMENT never hands out an id twice, so an ack names one report exactly.
    """
    CREATE TABLE repair_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        blob_id BLOB NOT NULL,
        idx INTEGER NOT NULL,
        pg INTEGER NOT NULL,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        node TEXT NOT NULL,
        reported_ms INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX repair_queue_by_shard ON repair_queue (blob_id, idx);
    """,
    # 6: the built-in KMS key store (kms_store.py): key material sealed under a cluster master key.
    """
    CREATE TABLE kms_keys (
        key_id TEXT PRIMARY KEY,
        arn TEXT NOT NULL,
        alias TEXT UNIQUE,
        description TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        sealed_material BLOB NOT NULL
    );
    """,
)

OBJECT_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE versions (
        bucket_id TEXT NOT NULL,
        key BLOB NOT NULL,
        rev BLOB NOT NULL,
        is_null INTEGER NOT NULL,
        is_delete_marker INTEGER NOT NULL,
        last_modified_ms INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        storage_class TEXT NOT NULL,
        checksum_algorithms TEXT NOT NULL,
        checksum_type TEXT NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (bucket_id, key, rev)
    ) WITHOUT ROWID;
    CREATE TABLE live (
        bucket_id TEXT NOT NULL,
        key BLOB NOT NULL,
        rev BLOB NOT NULL,
        is_null INTEGER NOT NULL,
        last_modified_ms INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        storage_class TEXT NOT NULL,
        checksum_algorithms TEXT NOT NULL,
        checksum_type TEXT NOT NULL,
        PRIMARY KEY (bucket_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE blob_refs (
        blob_id BLOB PRIMARY KEY,
        bucket_id TEXT NOT NULL,
        key BLOB NOT NULL,
        rev BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE intents (
        blob_id BLOB PRIMARY KEY,
        pg INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX intents_by_expiry ON intents(expires_ms);
    CREATE TABLE gc_queue (
        blob_id BLOB PRIMARY KEY,
        pg INTEGER NOT NULL,
        size INTEGER NOT NULL,
        reason TEXT NOT NULL,
        enqueued_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX gc_by_time ON gc_queue(enqueued_ms);
    CREATE TABLE uploads (
        bucket_id TEXT NOT NULL,
        key BLOB NOT NULL,
        upload_id TEXT NOT NULL,
        initiated_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        attrs BLOB NOT NULL,
        checksum_algorithm TEXT NOT NULL,
        checksum_type TEXT NOT NULL,
        result BLOB,
        PRIMARY KEY (bucket_id, key, upload_id)
    ) WITHOUT ROWID;
    CREATE TABLE parts (
        upload_id TEXT NOT NULL,
        part_number INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        last_modified_ms INTEGER NOT NULL,
        checksums BLOB NOT NULL,
        blobs BLOB NOT NULL,
        PRIMARY KEY (upload_id, part_number)
    ) WITHOUT ROWID;
    CREATE TABLE applied (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        raft_index INTEGER NOT NULL
    );
    """,
    # 2: blobs whose expired intents the GC reclaimed; a late commit naming one is refused.
    """
    CREATE TABLE reclaimed (
        blob_id BLOB PRIMARY KEY,
        reclaimed_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 3: intents name the (bucket id, key) they were recorded for (rows from before: ''), and
    # every committed blob keeps a durable `consumed` marker, so a late or duplicate commit of a
    # blob is answered or refused instead of committed again. Existing blob_refs seed it.
    """
    ALTER TABLE intents ADD COLUMN bucket_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE intents ADD COLUMN key BLOB NOT NULL DEFAULT x'';
    CREATE TABLE consumed (
        blob_id BLOB PRIMARY KEY,
        bucket_id TEXT NOT NULL,
        key BLOB NOT NULL,
        rev BLOB NOT NULL,
        upload_id TEXT NOT NULL,
        part_number INTEGER NOT NULL,
        consumed_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO consumed (blob_id, bucket_id, key, rev, upload_id, part_number, consumed_ms)
        SELECT blob_id, bucket_id, key, rev, '', 0, 0 FROM blob_refs;
    """,
    # 4: request ids of applied commands and their first results (dedup.py).
    _REQUESTS,
)


def schema_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, migrations: tuple[str, ...]) -> int:
    """Bring `conn` (autocommit mode) to the newest schema; returns the resulting version."""
    current = schema_version(conn)
    if current > len(migrations):
        raise RuntimeError(f"database schema {current} is newer than this code ({len(migrations)})")
    for number in range(current + 1, len(migrations) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in migrations[number - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(migrations)
