"""Shard transactions: a command whose COMMIT fails leaves the shard usable."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from cairn.metadata import commands as c
from cairn.metadata.replicated import _apply_at, applied_index
from cairn.metadata.shard import Shard

# A deferred foreign key is checked at COMMIT, so COMMIT itself fails (as SQLITE_FULL/IOERR would).
MIGRATIONS = (
    """
    CREATE TABLE parent (id INTEGER PRIMARY KEY);
    CREATE TABLE child (pid INTEGER NOT NULL REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
    """,
)


APPLIED = "CREATE TABLE applied (id INTEGER PRIMARY KEY CHECK (id = 0), raft_index INTEGER NOT NULL)"


def insert_child(conn: sqlite3.Connection, pid: Any) -> int:
    conn.execute("INSERT INTO child (pid) VALUES (?)", (pid,))
    return int(pid)


def count_children(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM child").fetchone()[0])


async def test_failed_commit_rolls_back_and_the_next_command_applies() -> None:
    shard = Shard(None, MIGRATIONS, insert_child)
    try:
        await shard.apply(1)  # no parent 1: COMMIT fails
    except sqlite3.IntegrityError:
        pass
    else:
        pytest.fail("COMMIT of an orphan child should fail")
    try:
        await shard.read(lambda conn: conn.execute("INSERT INTO parent (id) VALUES (2)"))
        assert await shard.apply(2) == 2
        assert await shard.read(count_children) == 1
    finally:
        await shard.close()


def test_an_entry_whose_commit_fails_rolls_back_and_records_no_index() -> None:
    pids = iter([7, None])

    def applier(conn: sqlite3.Connection, cmd: Any) -> None:
        pid = next(pids)
        if pid is not None:
            conn.execute("INSERT INTO child (pid) VALUES (?)", (pid,))

    shard = Shard(None, (*MIGRATIONS, APPLIED), applier)
    with pytest.raises(sqlite3.IntegrityError):
        shard.call(lambda conn: _apply_at(shard, 1, c.AckGc(())))
    assert not shard.conn.in_transaction
    assert shard.call(applied_index) == 0
    shard.call(lambda conn: _apply_at(shard, 2, c.AckGc(())))
    assert shard.call(applied_index) == 2
    assert shard.call(count_children) == 0


async def test_reads_of_one_loop_turn_run_as_one_job_each_with_its_own_outcome() -> None:
    shard = Shard(None, MIGRATIONS, insert_child)
    jobs = 0
    submit = shard._executor.submit

    def counting(fn: Any, *args: Any) -> Any:
        nonlocal jobs
        jobs += 1
        return submit(fn, *args)

    try:
        shard._executor.submit = counting  # type: ignore[method-assign]

        def fail(conn: sqlite3.Connection) -> int:
            raise sqlite3.OperationalError("no such table: nope")

        outcomes = await asyncio.gather(
            shard.read(count_children), shard.read(fail), shard.read(count_children), return_exceptions=True
        )
        assert outcomes[0] == outcomes[2] == 0
        assert isinstance(outcomes[1], sqlite3.OperationalError)
        assert jobs == 1
        assert await shard.read(count_children) == 0  # a read alone, later, is its own job
        assert jobs == 2
    finally:
        await shard.close()
    with pytest.raises(RuntimeError):  # closed: the read fails, it does not hang
        await shard.read(count_children)
