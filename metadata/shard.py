"""One SQLite shard: a connection owned by one worker thread, commands applied atomically.

Why not one aiosqlite call per statement: a command is a *synchronous* function of (state,
command) -> result (the shape cairn.replication.StateMachine needs), touching several tables
in one transaction. Each shard therefore owns a single-thread executor (what aiosqlite does
internally) and runs the whole command - BEGIN IMMEDIATE, statements, COMMIT - on it, off the
event loop. Commands on one shard are serialized by that thread, which is also what makes
conditional writes race-free: two If-None-Match writers of one key are applied one after the
other and the second sees the first's version.

A domain error raised by an applier, or a failing COMMIT, rolls the transaction back and is
re-raised to the caller; the shard is unchanged and accepts the next command. `path=None` opens a private in-memory database: the same code
as the on-disk shard, used by fast unit tests.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cairn.metadata import canonical_json, commands
from cairn.metadata.errors import MetadataError, error_class
from cairn.metadata.schema import migrate

T = TypeVar("T")
Applier = Callable[[sqlite3.Connection, Any], Any]


class ShardIO(Protocol):
    """What the service needs from a shard."""

    async def apply(self, command: Any) -> Any: ...

    async def read(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def close(self) -> None: ...


class Shard:
    """A SQLite database (WAL) with one owning thread."""

    def __init__(
        self,
        path: Path | None,
        migrations: tuple[str, ...],
        applier: Applier,
        *,
        synchronous: str = "FULL",
        name: str = "shard",
        cache_mb: int = 16,
        mmap_mb: int = 256,
    ) -> None:
        self.path = path
        self.name = name
        self._applier = applier
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"meta-{name}")
        self._conn = self._executor.submit(
            self._open, path, migrations, synchronous, cache_mb, mmap_mb
        ).result()

    @staticmethod
    def _open(
        path: Path | None, migrations: tuple[str, ...], synchronous: str, cache_mb: int, mmap_mb: int
    ) -> sqlite3.Connection:
        conn = sqlite3.connect(
            ":memory:" if path is None else str(path), isolation_level=None, check_same_thread=False
        )
        if path is not None:
            conn.execute("PRAGMA journal_mode=WAL")
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"bad synchronous mode {synchronous!r}")
        conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")
        conn.execute(f"PRAGMA mmap_size={int(mmap_mb) * 1024 * 1024}")
        migrate(conn, migrations)
        return conn

    def _apply_sync(self, command: Any) -> Any:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = self._applier(conn, command)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
        return result

    async def apply(self, command: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._apply_sync, command)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._conn, *args))

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)


class ShardMachine:
    """The replication.StateMachine view of a shard: command bytes in, result bytes out.

    Results are `{"ok": <plain result>}` or `{"error": reason, "message": text}`; the applied
    Raft index is stored in the same transaction so a restarted replica knows where it is.
    Must be called on the shard's own thread (the Raft runtime's apply loop).
    """

    def __init__(self, conn: sqlite3.Connection, applier: Applier) -> None:
        self._conn = conn
        self._applier = applier

    def apply(self, index: int, command: bytes) -> bytes:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result: dict[str, Any] = {
                "ok": canonical_json.to_plain(self._applier(conn, commands.decode(command)))
            }
        except MetadataError as err:
            rollback(conn)
            conn.execute("BEGIN IMMEDIATE")
            result = {"error": err.reason, "message": err.message}
        except BaseException:
            rollback(conn)
            raise
        try:
            conn.execute("INSERT OR REPLACE INTO applied (id, raft_index) VALUES (0, ?)", (index,))
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
        return canonical_json.dumps(result)

    def snapshot(self) -> bytes:
        return self._conn.serialize()

    def restore(self, data: bytes) -> None:
        # NOT FOR ON-DISK SHARDS YET (unused until Raft replicates metadata): sqlite3
        # deserialize turns the connection into an in-memory database, so nothing restored would
        # reach the shard file. The on-disk version must write `data` to a temp file next to the
        # shard, fsync it, rename it over the shard file (dropping its -wal/-shm), fsync the
        # directory and reopen the connection on the shard's thread.
        self._conn.deserialize(data)


def rollback(conn: sqlite3.Connection) -> None:
    """End a failed transaction, whatever failed (the applier or COMMIT itself: SQLITE_FULL,
    IOERR, BUSY); SQLite may already have rolled back, and a shard left inside a transaction
    would refuse every later BEGIN."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def raise_result_error(result: dict[str, Any]) -> None:
    """Re-raise the typed error a ShardMachine result carries, if any."""
    if "error" in result:
        raise error_class(result["error"])(result.get("message", ""))
