"""`write_whole` (a shard that arrived in one message) against both stores, and how the disk
store's lanes batch writes: new keys are looked up inside the batch, small writes coalesce
into one lane, writes past `lane_fill_bytes` spread over the lanes."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cairn.checksums import crc32c
from cairn.datanode.errors import (
    LengthMismatch,
    PieceChecksumMismatch,
    ShardConflict,
    ShardCorrupt,
    ShardDeleted,
    ShardNotFound,
)
from cairn.datanode.memory_store import MemoryShardStore
from cairn.datanode.shards import ShardKey, WriteResult
from cairn.datanode.store import ShardStore
from tests.unit.datanode.support import SMALL, key, open_store, pieces, read_all


@pytest.fixture(params=["disk", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ShardStore]:
    s: ShardStore = await open_store(tmp_path) if request.param == "disk" else MemoryShardStore()
    yield s
    await s.close()


async def whole(
    store: ShardStore, k: ShardKey, data: bytes, pg: int = 1, expected_length: int | None = None
) -> WriteResult:
    return await store.write_whole(k, pg, data, crc32c(data), expected_length)


async def test_whole_writes_read_back_and_mix_with_streamed_rewrites(store: ShardStore) -> None:
    small, large = os.urandom(600), os.urandom(300_000)  # large is past SMALL's spool threshold
    k1, k2, k3 = key(1), key(2), key(3)
    first = await whole(store, k1, small, pg=9)
    assert (first.info.key, first.info.pg, first.info.length, first.already_present) == (k1, 9, 600, False)
    assert not (await whole(store, k2, large)).already_present
    assert not (await whole(store, k3, b"")).already_present
    assert await read_all(store, k1) == small
    assert await read_all(store, k2) == large
    assert await read_all(store, k3) == b""
    # idempotent either way round: a whole rewrite of a streamed shard and vice versa
    again = await whole(store, k1, small, pg=9)
    assert again.already_present and again.info == first.info
    assert (await store.write(k2, 1, pieces(large, 70_000))).already_present
    streamed = key(4)
    await store.write(streamed, 1, pieces(large))
    assert (await whole(store, streamed, large)).already_present
    assert (await store.stats()).live_shards == 4


async def test_whole_conflicts_checksums_lengths_and_deletes(store: ShardStore) -> None:
    data, k = os.urandom(5000), key()
    await whole(store, k, data)
    with pytest.raises(ShardConflict):
        await whole(store, k, data[::-1])  # same length, other bytes
    with pytest.raises(ShardConflict):
        await whole(store, k, data + b"x")
    fresh = key()
    with pytest.raises(PieceChecksumMismatch):
        await store.write_whole(fresh, 1, data, crc32c(data) ^ 1)
    with pytest.raises(LengthMismatch):
        await whole(store, fresh, data, expected_length=4999)
    with pytest.raises(ShardNotFound):
        await read_all(store, fresh)
    assert [i.key for i in await store.list_pg(1, None, 10)] == [k]
    assert (await whole(store, fresh, data, expected_length=5000)).info.length == 5000
    assert await store.delete([k]) == 1
    with pytest.raises(ShardDeleted):
        await whole(store, k, data)
    assert await read_all(store, fresh) == data
    stats = await store.stats()
    assert (stats.live_shards, stats.dead_shards) == (1, 1)


async def test_a_whole_rewrite_repairs_a_damaged_copy(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    data, k = os.urandom(100_000), key()
    await whole(store, k, data)
    lane = next(la for la in store.lanes if la.volume.size > 32)
    raw = bytearray(lane.volume.path.read_bytes())
    raw[-5000] ^= 0xFF
    lane.volume.path.write_bytes(bytes(raw))
    with pytest.raises(ShardCorrupt):
        await read_all(store, k)
    assert not (await whole(store, k, data)).already_present
    assert await read_all(store, k) == data
    await store.close()


async def test_concurrent_rewrites_of_one_key_store_it_once(tmp_path: Path) -> None:
    store = await open_store(tmp_path, dataclasses.replace(SMALL, group_commit_window_ms=2.0))
    data, k = os.urandom(3000), key()
    results = await asyncio.gather(*(whole(store, k, data) for _ in range(10)))
    assert sorted(r.already_present for r in results) == [False] + [True] * 9
    other = os.urandom(3000)
    outcomes = await asyncio.gather(*(whole(store, key_, other) for key_ in [k] * 3), return_exceptions=True)
    assert all(isinstance(o, ShardConflict) for o in outcomes)
    assert await read_all(store, k) == data
    assert (await store.stats()).live_shards == 1
    await store.close()


async def test_small_concurrent_writes_coalesce_into_one_batch(tmp_path: Path) -> None:
    calls: list[int] = []

    def counting_fsync(fd: int) -> None:
        calls.append(fd)
        os.fsync(fd)

    storage = dataclasses.replace(SMALL, writer_lanes=4, group_commit_window_ms=5.0)
    store = await open_store(tmp_path, storage, fsync=counting_fsync)
    before = len(calls)
    datas = {key(i): os.urandom(600) for i in range(40)}
    await asyncio.gather(*(whole(store, k, d) for k, d in datas.items()))
    batches = sum(la.batches for la in store.lanes)
    assert batches <= 2, f"{batches} batches for 40 small concurrent writes on 4 lanes"
    assert len(calls) - before == batches
    for k, d in datas.items():
        assert await read_all(store, k) == d
    await store.close()


async def test_writes_past_the_lane_fill_spread_over_every_lane(tmp_path: Path) -> None:
    storage = dataclasses.replace(SMALL, writer_lanes=4, group_commit_window_ms=5.0, lane_fill_bytes=10_000)
    store = await open_store(tmp_path, storage)
    datas = {key(i): os.urandom(8000) for i in range(8)}
    await asyncio.gather(*(whole(store, k, d) for k, d in datas.items()))
    assert all(la.batches >= 1 for la in store.lanes), [la.batches for la in store.lanes]
    for k, d in datas.items():
        assert await read_all(store, k) == d
    await store.close()
