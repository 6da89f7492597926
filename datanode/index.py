"""The per-node shard index: SQLite (WAL, synchronous=FULL) mapping shard key -> location.

Tables: `shards` (key -> volume, offset, length, crc32c, pg, state, seq), `volumes` (how far
each volume's records are committed, and whether it is sealed) and `schema_version`. The
schema is built by ordered migrations; opening applies the missing ones in one transaction.

Invariants:
- One batch of rows and its volume's `committed_end` change in one transaction, so after a
  crash every record below `committed_end` is indexed and nothing above it is.
- The index is derived data: everything in it can be rebuilt by scanning the volume files
  (recovery.py). A damaged or missing database raises `IndexDamaged` and is rebuilt.
- Blocking: every method runs in the store's thread pool; one lock serialises the connection.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.datanode.shards import ShardInfo, ShardKey, ShardState

#: Ordered migrations: (version, SQL script). Append only; never edit a released one.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE shards (
            blob_id BLOB NOT NULL,
            idx INTEGER NOT NULL,
            pg INTEGER NOT NULL,
            volume INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            length INTEGER NOT NULL,
            crc INTEGER NOT NULL,
            state TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (blob_id, idx)
        ) WITHOUT ROWID;
        CREATE TABLE volumes (
            id INTEGER PRIMARY KEY,
            committed_end INTEGER NOT NULL,
            sealed INTEGER NOT NULL DEFAULT 0
        );
        """,
    ),
    (
        2,
        """
        CREATE INDEX shards_by_pg ON shards (pg, blob_id, idx);
        CREATE INDEX shards_by_state ON shards (state);
        """,
    ),
    (
        3,
        """
        CREATE INDEX shards_by_volume ON shards (volume, offset);
        CREATE TABLE scrub_volumes (
            volume INTEGER PRIMARY KEY,
            scrubbed_at REAL NOT NULL,
            bytes INTEGER NOT NULL,
            records INTEGER NOT NULL,
            damaged INTEGER NOT NULL,
            findings INTEGER NOT NULL,
            error TEXT NOT NULL
        );
        CREATE TABLE scrub_findings (
            blob_id BLOB NOT NULL,
            idx INTEGER NOT NULL,
            volume INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL,
            found_at REAL NOT NULL,
            PRIMARY KEY (blob_id, idx)
        ) WITHOUT ROWID;
        CREATE INDEX scrub_findings_by_volume ON scrub_findings (volume);
        CREATE TABLE compactions (
            job INTEGER PRIMARY KEY,
            source INTEGER NOT NULL,
            target INTEGER NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL NOT NULL,
            source_bytes INTEGER NOT NULL,
            target_bytes INTEGER NOT NULL,
            records INTEGER NOT NULL,
            outcome TEXT NOT NULL
        );
        CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    ),
)

#: SQL for the bytes a row's newest record occupies in its volume: a live shard's record
#: (`store.record_size` with 64 KiB blocks), or a dead row's tombstone (a record of length 0).
_RECORD_BYTES_SQL = "CASE WHEN state = 'live' THEN 76 + 4 * ((length + 65535) / 65536) + length ELSE 76 END"


class IndexDamaged(Exception):
    """The database file is unreadable, inconsistent or not a Cairn index."""


class IndexTooNew(Exception):
    """The database was written by a newer schema than this code knows; refuse to touch it."""


@dataclass(frozen=True, slots=True)
class IndexEntry:
    key: ShardKey
    pg: int
    volume: int
    offset: int  # of the record's first byte in the volume
    length: int  # payload bytes
    crc32c: int
    state: ShardState
    seq: int

    def info(self) -> ShardInfo:
        return ShardInfo(self.key, self.pg, self.length, self.crc32c, self.state)


@dataclass(frozen=True, slots=True)
class VolumeRow:
    volume: int
    committed_end: int
    sealed: bool


@dataclass(frozen=True, slots=True)
class VolumeUsage:
    """What the index says a volume still needs: the bytes of the records rows point at."""

    volume: int
    rows: int  # live shards plus tombstones whose row points into the volume
    needed_bytes: int  # their records' bytes (a tombstone: 76)


@dataclass(frozen=True, slots=True)
class Move:
    """A record compaction copied to `offset` in the target: switch the key's row there if it
    still has this state and seq and still points where it did when the record was copied
    (`from_volume`, and `from_offset` unless None)."""

    key: ShardKey
    state: ShardState
    seq: int
    offset: int
    from_volume: int
    from_offset: int | None


_COLUMNS = "blob_id, idx, pg, volume, offset, length, crc, state, seq"


def _entry(row: tuple[bytes, int, int, int, int, int, int, str, int]) -> IndexEntry:
    blob_id, idx, pg, volume, offset, length, crc, state, seq = row
    return IndexEntry(ShardKey(bytes(blob_id), idx), pg, volume, offset, length, crc, ShardState(state), seq)


def _row(e: IndexEntry) -> tuple[bytes, int, int, int, int, int, int, str, int]:
    return (e.key.blob_id, e.key.index, e.pg, e.volume, e.offset, e.length, e.crc32c, str(e.state), e.seq)


class ShardIndex:
    """The SQLite index of one node."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.path = path

    @classmethod
    def open(cls, path: Path, migrations: Sequence[tuple[int, str]] = MIGRATIONS) -> ShardIndex:
        """Open (creating if absent) and migrate; IndexDamaged if the file is unusable."""
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise IndexDamaged(str(exc)) from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            check = conn.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise IndexDamaged(f"quick_check: {check}")
            _migrate(conn, migrations)
        except sqlite3.Error as exc:
            conn.close()
            raise IndexDamaged(str(exc)) from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def schema_version(self) -> int:
        with self._lock:
            return _version(self._conn)

    def get(self, key: ShardKey) -> IndexEntry | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM shards WHERE blob_id = ? AND idx = ?", (key.blob_id, key.index)
            ).fetchone()
        return _entry(row) if row else None

    def get_many(self, keys: Iterable[ShardKey]) -> dict[ShardKey, IndexEntry]:
        """The rows of those `keys` that exist (one lock hold for the lot)."""
        found: dict[ShardKey, IndexEntry] = {}
        with self._lock:
            for key in keys:
                row = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM shards WHERE blob_id = ? AND idx = ?", (key.blob_id, key.index)
                ).fetchone()
                if row:
                    found[key] = _entry(row)
        return found

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one durable transaction (committed, or rolled back on error)."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def commit_batch(self, entries: Iterable[IndexEntry], volume: int, committed_end: int) -> None:
        """Upsert `entries` and advance `volume`'s committed end, in one durable transaction."""
        with self._write() as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO shards ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                [_row(e) for e in entries],
            )
            conn.execute(
                "INSERT INTO volumes (id, committed_end) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET committed_end = excluded.committed_end",
                (volume, committed_end),
            )

    def mark_sealed(self, volume: int, end: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO volumes (id, committed_end, sealed) VALUES (?, ?, 1) "
                "ON CONFLICT (id) DO UPDATE SET sealed = 1, committed_end = excluded.committed_end",
                (volume, end),
            )

    def forget_volume(self, volume: int) -> None:
        """Drop a removed volume's row (its file is gone and no shard row points into it)."""
        with self._lock:
            self._conn.execute("DELETE FROM volumes WHERE id = ?", (volume,))

    def switch_volume(self, source: int, target: int | None, target_end: int, moves: Sequence[Move]) -> int:
        """Compaction's switch, in one durable transaction: point every row still describing a
        copied record (see `Move`) at its copy in `target`, record `target` as sealed and, if no row points
        into `source` any more, forget `source`. Returns the rows left in `source` (0 unless
        something changed under the compaction; the caller then keeps the source file).
        Idempotent: a row already switched no longer matches."""
        with self._write() as conn:
            if target is not None:
                conn.executemany(
                    "UPDATE shards SET volume = ?, offset = ? WHERE blob_id = ? AND idx = ? "
                    "AND state = ? AND seq = ? AND volume = ? AND (? IS NULL OR offset = ?)",
                    [
                        (
                            target,
                            m.offset,
                            m.key.blob_id,
                            m.key.index,
                            str(m.state),
                            m.seq,
                            m.from_volume,
                            m.from_offset,
                            m.from_offset,
                        )
                        for m in moves
                    ],
                )
                conn.execute(
                    "INSERT INTO volumes (id, committed_end, sealed) VALUES (?, ?, 1) "
                    "ON CONFLICT (id) DO UPDATE SET sealed = 1, committed_end = excluded.committed_end",
                    (target, target_end),
                )
            (left,) = conn.execute("SELECT COUNT(*) FROM shards WHERE volume = ?", (source,)).fetchone()
            if left == 0:
                conn.execute("DELETE FROM volumes WHERE id = ?", (source,))
        return int(left)

    def usage(self, volume: int) -> VolumeUsage:
        """The rows pointing into `volume` and the bytes of their records (one volume at a
        time, through `shards_by_volume`, so the lock is never held for a whole-table scan)."""
        with self._lock:
            n, size = self._conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM({_RECORD_BYTES_SQL}), 0) FROM shards WHERE volume = ?",
                (volume,),
            ).fetchone()
        return VolumeUsage(volume, int(n), int(size))

    def rows_in_volume(self, volume: int, after: tuple[int, ShardKey] | None, limit: int) -> list[IndexEntry]:
        """Rows pointing into `volume`, ordered by (offset, key), after `after` (keyset pages)."""
        offset, key = after if after is not None else (-1, ShardKey(bytes(16), 0))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM shards WHERE volume = ? AND (offset, blob_id, idx) > (?, ?, ?) "
                "ORDER BY offset, blob_id, idx LIMIT ?",
                (volume, offset, key.blob_id, key.index, limit),
            ).fetchall()
        return [_entry(r) for r in rows]

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read (the bookkeeping tables of scrub.py and compaction.py)."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def transaction(self, statements: Iterable[tuple[str, Sequence[object]]]) -> None:
        """Run `statements` in one durable transaction (all or none)."""
        with self._write() as conn:
            for sql, params in statements:
                conn.execute(sql, params)

    def volumes(self) -> dict[int, VolumeRow]:
        with self._lock:
            rows = self._conn.execute("SELECT id, committed_end, sealed FROM volumes").fetchall()
        return {v: VolumeRow(v, end, bool(sealed)) for v, end, sealed in rows}

    def list_pg(self, pg: int, after: ShardKey | None, limit: int) -> list[IndexEntry]:
        """Shards of `pg` with key > `after`, in key order (keyset pagination)."""
        with self._lock:
            if after is None:
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM shards WHERE pg = ? ORDER BY blob_id, idx LIMIT ?", (pg, limit)
                ).fetchall()
            else:
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM shards WHERE pg = ? AND (blob_id, idx) > (?, ?) "
                    "ORDER BY blob_id, idx LIMIT ?",
                    (pg, after.blob_id, after.index, limit),
                ).fetchall()
        return [_entry(r) for r in rows]

    def counts(self) -> dict[ShardState, int]:
        with self._lock:
            rows = self._conn.execute("SELECT state, COUNT(*) FROM shards GROUP BY state").fetchall()
        counts = {s: 0 for s in ShardState}
        counts.update({ShardState(state): n for state, n in rows})
        return counts

    def max_seq(self) -> int:
        with self._lock:
            (value,) = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM shards").fetchone()
        return int(value)


def _version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def _migrate(conn: sqlite3.Connection, migrations: Sequence[tuple[int, str]]) -> None:
    versions = [v for v, _ in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError("migrations must be numbered 1, 2, 3, ... in order")
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = _version(conn)
        if current > len(migrations):
            raise IndexTooNew(f"index schema version {current} is newer than {len(migrations)}")
        for version, script in migrations[current:]:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        if current > 0:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"shards", "volumes"} <= tables:
                raise IndexDamaged("index is missing its tables")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
