"""The metadata machine's snapshot files: the state at exactly the snapshot's log position,
even though applies go on while the files are written, and a restore that brings it back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cairn.metadata import commands as c
from cairn.metadata.replicated import CATALOG, MetadataMachine, encode_entry
from cairn.metadata.store import Store, shard_index
from tests.unit.metadata.test_raft_simulation import dump

SHARDS = 4


def intent(n: int) -> bytes:
    key = f"k{n:04d}"
    return encode_entry(
        shard_index("id1", key, SHARDS), c.RecordIntent("id1", key, n.to_bytes(16, "big"), 1, 10**13)
    )


def close(store: Store) -> None:
    asyncio.run(store.close())


def test_snapshot_files_hold_the_state_at_the_prepare_while_applies_go_on(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "leader", SHARDS)
    machine = MetadataMachine(store)
    machine.apply(1, encode_entry(CATALOG, c.CreateBucket("b", "id1", "o", "r", 1)))
    machine.apply_batch([(n, intent(n)) for n in range(2, 200)])
    at_prepare = dump(store)
    write = machine.prepare_snapshot()
    machine.apply_batch([(n, intent(n)) for n in range(200, 400)])  # applies go on
    later = dump(store)
    assert later != at_prepare
    snap_dir = tmp_path / "snap"
    snap_dir.mkdir()
    names = write(snap_dir)  # as the runtime does: in its thread, after those applies
    assert sorted(p.name for p in snap_dir.iterdir()) == sorted(names)  # no journal files left
    assert dump(store) == later

    other = Store.open(tmp_path / "follower", SHARDS)
    follower = MetadataMachine(other)
    follower.restore_files(snap_dir, names)
    assert dump(other) == at_prepare
    assert set(follower.buckets) == {"b"}
    follower.apply_batch([(n, intent(n)) for n in range(200, 400)])  # then the log after it
    assert dump(other) == later
    close(store)
    close(other)
