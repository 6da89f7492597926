"""The SQLite shard index: rows, pagination, counts, migrations and damage detection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cairn.datanode.index import MIGRATIONS, IndexDamaged, IndexEntry, IndexTooNew, ShardIndex
from cairn.datanode.shards import ShardKey, ShardState


def entry(n: int, pg: int = 1, state: ShardState = ShardState.LIVE, seq: int = 1) -> IndexEntry:
    return IndexEntry(ShardKey(bytes([n]) * 16, n % 12), pg, 1, 32 + 100 * n, 50, 1234 + n, state, seq)


def test_batches_are_readable_listable_and_counted(tmp_path: Path) -> None:
    index = ShardIndex.open(tmp_path / "index.db")
    assert index.schema_version() == len(MIGRATIONS)
    index.commit_batch([entry(n, pg=n % 2) for n in range(10)], volume=1, committed_end=1032)
    index.commit_batch([entry(3, pg=1, state=ShardState.DEAD, seq=2)], volume=1, committed_end=1100)
    assert index.get(entry(3).key) == entry(3, pg=1, state=ShardState.DEAD, seq=2)
    assert index.get(ShardKey(b"\xff" * 16, 0)) is None
    assert index.volumes()[1].committed_end == 1100 and not index.volumes()[1].sealed
    assert index.counts() == {ShardState.LIVE: 9, ShardState.DEAD: 1}
    assert index.max_seq() == 2

    pages, after = [], None
    while page := index.list_pg(1, after, 2):
        pages.append([e.key for e in page])
        after = page[-1].key
    assert [k for page in pages for k in page] == sorted(entry(n).key for n in range(1, 10, 2))
    assert all(len(p) <= 2 for p in pages)

    index.mark_sealed(1, 1100)
    assert index.volumes()[1].sealed
    index.close()
    reopened = ShardIndex.open(tmp_path / "index.db")
    assert reopened.get(entry(5).key) == entry(5, pg=1)
    reopened.close()


def test_migrations_upgrade_an_old_schema_keeping_rows(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    old = ShardIndex.open(path, MIGRATIONS[:1])
    assert old.schema_version() == 1
    old.commit_batch([entry(1), entry(2, pg=7)], volume=1, committed_end=500)
    old.close()
    with sqlite3.connect(path) as conn:
        assert "shards_by_pg" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    new = ShardIndex.open(path)
    assert new.schema_version() == len(MIGRATIONS)
    assert [e.key for e in new.list_pg(7, None, 10)] == [entry(2).key]
    new.close()
    with sqlite3.connect(path) as conn:
        assert "shards_by_pg" in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    ShardIndex.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(IndexTooNew):
        ShardIndex.open(path)


def test_garbage_and_missing_tables_are_damage(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexDamaged):
        ShardIndex.open(garbage)
    path = tmp_path / "index.db"
    ShardIndex.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE shards")
    with pytest.raises(IndexDamaged):
        ShardIndex.open(path)
