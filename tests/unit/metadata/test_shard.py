"""Shard transactions: a command whose COMMIT fails leaves the shard usable."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from cairn.metadata import commands as c
from cairn.metadata.shard import Shard, ShardMachine

# A deferred foreign key is checked at COMMIT, so COMMIT itself fails (as SQLITE_FULL/IOERR would).
MIGRATIONS = (
    """
    CREATE TABLE parent (id INTEGER PRIMARY KEY);
    CREATE TABLE child (pid INTEGER NOT NULL REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
    """,
)


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


def test_state_machine_failed_commit_rolls_back() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("CREATE TABLE applied (id INTEGER PRIMARY KEY, raft_index INTEGER NOT NULL)")
    pids = iter([7, None])

    def applier(conn: sqlite3.Connection, cmd: Any) -> None:
        pid = next(pids)
        if pid is not None:
            conn.execute("INSERT INTO child (pid) VALUES (?)", (pid,))

    machine = ShardMachine(conn, applier)
    with pytest.raises(sqlite3.IntegrityError):
        machine.apply(1, c.encode(c.AckGc(())))
    assert not conn.in_transaction
    machine.apply(2, c.encode(c.AckGc(())))
    assert conn.execute("SELECT raft_index FROM applied").fetchone() == (2,)
    assert count_children(conn) == 0
