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
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

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
        self.applier = applier
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"meta-{name}")
        self._reads: list[_Read] = []  # asked for in this turn of the loop (`read`)
        self.conn = self._executor.submit(
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
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = self.applier(conn, command)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
        return result

    async def apply(self, command: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._apply_sync, command)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run `fn(*args)` on the shard's thread; the future of its result."""
        return self._executor.submit(fn, *args)

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on the shard's thread and wait for it (blocking: the Raft apply path)."""
        return self._executor.submit(fn, self.conn).result()

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(conn, *args)` on the shard's thread. The reads asked for in one turn of the event
        loop go to the thread together, as one job, and come back together: a batch of GETs
        costs one thread hop and one wake-up of the loop instead of one each."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._reads:
            loop.call_soon(self._send_reads, loop)
        self._reads.append((fn, args, future))
        return await future

    def _send_reads(self, loop: asyncio.AbstractEventLoop) -> None:
        reads, self._reads = self._reads, []
        try:
            self._executor.submit(self._run_reads, loop, reads)
        except RuntimeError as exc:  # the shard is closed
            _settle(reads, [(False, exc)] * len(reads))

    def _run_reads(self, loop: asyncio.AbstractEventLoop, reads: list[_Read]) -> None:
        """On the shard's thread: every read of the batch, each with its own result or error."""
        outcomes: list[tuple[bool, Any]] = []
        for fn, args, _ in reads:
            try:
                outcomes.append((True, fn(self.conn, *args)))
            except Exception as exc:
                outcomes.append((False, exc))
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(_settle, reads, outcomes)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.conn.close)
        self._executor.shutdown(wait=True)


_Read = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


def _settle(reads: list[_Read], outcomes: list[tuple[bool, Any]]) -> None:
    for (_, _, future), (ok, value) in zip(reads, outcomes, strict=True):
        if future.done():  # its caller gave up (cancelled)
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def rollback(conn: sqlite3.Connection) -> None:
    """End a failed transaction, whatever failed (the applier or COMMIT itself: SQLITE_FULL,
    IOERR, BUSY); SQLite may already have rolled back, and a shard left inside a transaction
    would refuse every later BEGIN."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")
