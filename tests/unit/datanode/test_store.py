"""The shard store: its contract (disk store and in-memory twin alike), group commit, failed
batches, spooling, corruption, capacity and sealing."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cairn.checksums import crc32c
from cairn.datanode import store as store_module
from cairn.datanode.errors import (
    DataNodeUnavailable,
    LengthMismatch,
    NodeFull,
    PieceChecksumMismatch,
    ShardConflict,
    ShardCorrupt,
    ShardDeleted,
    ShardNotFound,
)
from cairn.datanode.memory_store import MemoryShardStore
from cairn.datanode.shards import RELEASED_PG, UNKNOWN_PG
from cairn.datanode.staging import StagedPayload
from cairn.datanode.store import DiskShardStore, ShardStore
from cairn.datanode.volume import VolumeFile
from tests.unit.datanode.support import SMALL, key, open_store, pieces, read_all


def file_size(path: Path) -> int:
    return path.stat().st_size


@pytest.fixture(params=["disk", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ShardStore]:
    s: ShardStore = await open_store(tmp_path) if request.param == "disk" else MemoryShardStore()
    yield s
    await s.close()


async def test_write_then_read_whole_and_ranges(store: ShardStore) -> None:
    data = os.urandom(200_000)
    k = key(4)
    result = await store.write(k, 11, pieces(data))
    assert not result.already_present
    assert (result.info.key, result.info.pg, result.info.length, result.info.state) == (
        k,
        11,
        200_000,
        "live",
    )
    assert await read_all(store, k) == data
    assert await read_all(store, k, 65_530, 10) == data[65_530:65_540]
    assert await read_all(store, k, 199_000, 5_000) == data[199_000:]
    assert await read_all(store, k, 200_000) == b""


async def test_rewrites_are_idempotent_and_conflicts_refused(store: ShardStore) -> None:
    data = os.urandom(50_000)
    k = key()
    first = await store.write(k, 1, pieces(data))
    again = await store.write(k, 1, pieces(data, 7_777))
    assert again.already_present and again.info == first.info
    with pytest.raises(ShardConflict):
        await store.write(k, 1, pieces(data[:-1] + bytes([data[-1] ^ 1])))
    with pytest.raises(ShardConflict):
        await store.write(k, 1, pieces(data + b"more"))
    assert await read_all(store, k) == data


async def test_a_wrong_piece_checksum_stores_nothing(store: ShardStore) -> None:
    k = key()

    good = [p async for p in pieces(b"a" * 30_000)]

    async def tampered() -> AsyncIterator[tuple[bytes, int]]:
        yield good[0]
        data, crc = good[1]
        yield data, crc ^ 1
        yield good[2]

    with pytest.raises(PieceChecksumMismatch):
        await store.write(k, 1, tampered())
    with pytest.raises(ShardNotFound):
        await read_all(store, k)
    assert (await store.stats()).live_shards == 0
    assert await store.list_pg(1, None, 10) == []


async def test_expected_length_is_enforced(store: ShardStore) -> None:
    with pytest.raises(LengthMismatch):
        await store.write(key(), 1, pieces(b"abc"), expected_length=4)
    assert (await store.write(key(), 1, pieces(b"abc"), expected_length=3)).info.length == 3


async def test_deleted_shards_read_as_not_found_and_stay_deleted(store: ShardStore) -> None:
    keep, gone = key(1), key(2)
    await store.write(keep, 5, pieces(b"keep"))
    await store.write(gone, 5, pieces(b"gone"))
    assert await store.delete([gone, gone, key()]) == 1
    assert await store.delete([gone]) == 0
    with pytest.raises(ShardNotFound):
        await read_all(store, gone)
    with pytest.raises(ShardDeleted):
        await store.write(gone, 5, pieces(b"gone"))
    states = {i.key: i.state for i in await store.list_pg(5, None, 10)}
    assert states == {keep: "live", gone: "dead"}
    stats = await store.stats()  # the unknown key() got a tombstone: dead as well
    assert (stats.live_shards, stats.dead_shards, stats.state) == (1, 2, "up")


async def test_a_delete_before_the_write_arrives_keeps_the_key_dead(store: ShardStore) -> None:
    """GC deletes a blob while one shard is still on its way here: the late write must fail."""
    late = key(3)
    assert await store.delete([late]) == 0  # nothing live was deleted
    with pytest.raises(ShardDeleted):
        await store.write(late, 5, pieces(b"late"))
    with pytest.raises(ShardDeleted):
        await store.write_whole(late, 5, b"late", crc32c(b"late"))
    with pytest.raises(ShardNotFound):
        await read_all(store, late)
    assert await store.delete([late]) == 0
    assert await store.list_pg(5, None, 10) == []
    assert [(i.key, i.state, i.length) for i in await store.list_pg(UNKNOWN_PG, None, 10)] == [
        (late, "dead", 0)
    ]
    stats = await store.stats()
    assert (stats.live_shards, stats.dead_shards) == (0, 1)


async def test_a_released_copy_is_gone_from_its_pg_and_its_key_stays_writable(store: ShardStore) -> None:
    """A node gives up a copy of a slot it no longer holds (GC's leftover sweep): the key reads
    and lists as gone, and the node can take the slot again later (a write is stored, not
    refused as for a delete); a delete after a release still forbids the key."""
    copy, never, dead = key(1), key(2), key(3)
    await store.write(copy, 5, pieces(b"copy"))
    await store.write(dead, 5, pieces(b"dead"))
    assert await store.delete([dead]) == 1
    assert await store.delete([copy, never, dead], release=True) == 1  # only the live copy
    assert await store.delete([copy], release=True) == 0
    with pytest.raises(ShardNotFound):
        await read_all(store, copy)
    assert [(i.key, i.state) for i in await store.list_pg(5, None, 10)] == [(dead, "dead")]
    assert [(i.key, i.state) for i in await store.list_pg(RELEASED_PG, None, 10)] == [(copy, "dead")]
    assert await store.list_pg(UNKNOWN_PG, None, 10) == []  # `never` got no tombstone
    with pytest.raises(ShardDeleted):  # a release does not revive a deleted key
        await store.write(dead, 5, pieces(b"dead"))
    written = await store.write(copy, 5, pieces(b"copy"))  # the slot came back to this node
    assert not written.already_present and written.info.state == "live"
    assert await read_all(store, copy) == b"copy"
    assert await store.write(never, 5, pieces(b"never")) is not None
    assert await store.delete([copy], release=True) == 1
    assert await store.delete([copy]) == 0  # a delete of a released key forbids it from now on
    with pytest.raises(ShardDeleted):
        await store.write(copy, 5, pieces(b"copy"))


async def test_list_paginates_by_key(store: ShardStore) -> None:
    keys = sorted(key(i) for i in range(7))
    for k in keys:
        await store.write(k, 3, pieces(b"x"))
    await store.write(key(), 4, pieces(b"other pg"))
    seen, after = [], None
    while page := await store.list_pg(3, after, 3):
        seen += [i.key for i in page]
        after = page[-1].key
    assert seen == keys


async def test_concurrent_writes_share_fsyncs(tmp_path: Path) -> None:
    calls: list[int] = []

    def counting_fsync(fd: int) -> None:
        calls.append(fd)
        os.fsync(fd)

    storage = dataclasses.replace(SMALL, writer_lanes=1, group_commit_window_ms=5.0)
    store = await open_store(tmp_path, storage, fsync=counting_fsync)
    before = len(calls)
    datas = {key(i): os.urandom(1000 + i) for i in range(40)}
    results = await asyncio.gather(*(store.write(k, 0, pieces(d)) for k, d in datas.items()))
    fsyncs = len(calls) - before
    assert len(results) == 40
    assert store.lanes[0].batches == fsyncs  # one volume fsync (and one SQLite commit) per batch
    assert fsyncs <= 8, f"{fsyncs} fsyncs for 40 concurrent writes"
    for k, d in datas.items():
        assert await read_all(store, k) == d
    await store.close()


async def test_a_failed_batch_is_truncated_and_fails_every_writer(tmp_path: Path) -> None:
    fail = {"on": False}

    def flaky_fsync(fd: int) -> None:
        if fail["on"]:
            raise OSError(5, "injected I/O error")
        os.fsync(fd)

    storage = dataclasses.replace(SMALL, writer_lanes=1, group_commit_window_ms=5.0)
    store = await open_store(tmp_path, storage, fsync=flaky_fsync)
    ok = key()
    await store.write(ok, 0, pieces(b"before"))
    size = store.lanes[0].volume.size
    fail["on"] = True
    doomed = [key(i) for i in range(5)]
    results = await asyncio.gather(
        *(store.write(k, 0, pieces(b"doomed")) for k in doomed), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results)
    assert store.lanes[0].volume.size == size and file_size(store.lanes[0].volume.path) == size
    fail["on"] = False
    for k in doomed:
        with pytest.raises(ShardNotFound):
            await read_all(store, k)
    await store.write(doomed[0], 0, pieces(b"retried"))
    assert await read_all(store, doomed[0]) == b"retried"
    assert await read_all(store, ok) == b"before"
    await store.close()


async def test_large_shards_are_spooled_and_read_back(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 5)
    k = key()
    await store.write(k, 0, pieces(data, 300_000))
    assert await read_all(store, k) == data
    assert list((tmp_path / "tmp").iterdir()) == []  # anonymous spool files are gone
    await store.close()


async def test_on_disk_damage_reads_as_corrupt_and_a_rewrite_repairs_it(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    data = os.urandom(100_000)
    k = key()
    await store.write(k, 0, pieces(data))
    path = store.lanes[0].volume.path if store.lanes[0].volume.size > 32 else store.lanes[1].volume.path
    raw = bytearray(path.read_bytes())
    raw[-5000] ^= 0xFF  # inside the payload's second block
    path.write_bytes(bytes(raw))
    assert await read_all(store, k, 0, 1000) == data[:1000]  # untouched block still verifies
    with pytest.raises(ShardCorrupt):
        await read_all(store, k)
    assert not (await store.write(k, 0, pieces(data))).already_present  # repair writes a new copy
    assert await read_all(store, k) == data
    await store.close()


async def test_writes_past_capacity_are_refused(tmp_path: Path) -> None:
    store = await open_store(tmp_path, capacity=200_000)
    await store.write(key(), 0, pieces(os.urandom(100_000)))
    with pytest.raises(NodeFull):
        await store.write(key(), 0, pieces(os.urandom(120_000)))
    await store.close()


async def test_full_volumes_are_sealed_and_stay_readable(tmp_path: Path) -> None:
    storage = dataclasses.replace(SMALL, volume_size_limit_bytes=64 * 1024)
    store = await open_store(tmp_path, storage)
    datas = {key(i): os.urandom(30_000) for i in range(12)}
    for k, d in datas.items():
        await store.write(k, 0, pieces(d))
    await store.close()  # lets a seal that follows the last acknowledged batch finish
    volumes = [VolumeFile.open(p) for p in sorted((tmp_path / "volumes").iterdir())]
    assert sum(v.sealed for v in volumes) >= 4 and sum(not v.sealed for v in volumes) == 2
    for volume in volumes:
        if volume.sealed:
            volume.verify_sealed()
        volume.close()
    store = await open_store(tmp_path, storage)
    for k, d in datas.items():
        assert await read_all(store, k) == d
    await store.close()


async def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store: DiskShardStore = await open_store(tmp_path)
    await store.close()
    with pytest.raises(DataNodeUnavailable):
        await store.write(key(), 0, pieces(b"late"))
    assert (await MemoryShardStore().stats()).state == "up"


async def test_staged_memory_stays_under_the_budget_with_many_concurrent_large_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """24 writes of 512 KiB all in flight at once, budget 1 MiB: the bytes held in memory
    (counted over every live payload after every add) never pass the budget; all land."""
    live: list[StagedPayload] = []
    peak = 0

    class Counted(StagedPayload):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            live.append(self)

        def add(self, data: bytes) -> None:
            nonlocal peak
            super().add(data)
            peak = max(peak, sum(p.memory_bytes for p in live))

        def discard(self) -> None:
            super().discard()
            if self in live:
                live.remove(self)

    monkeypatch.setattr(store_module, "StagedPayload", Counted)
    budget, n, size = 1 << 20, 24, 512 * 1024
    storage = dataclasses.replace(
        SMALL, spool_threshold_bytes=8 << 20, staging_memory_bytes=budget, volume_size_limit_bytes=64 << 20
    )
    s = await open_store(tmp_path, storage)
    all_started = asyncio.Event()
    started = 0

    async def stalled(data: bytes) -> AsyncIterator[tuple[bytes, int]]:
        nonlocal started
        half = len(data) // 2
        yield data[:half], crc32c(data[:half])
        started += 1
        if started == n:
            all_started.set()
        await all_started.wait()
        yield data[half:], crc32c(data[half:])

    try:
        datas = {key(i): os.urandom(size) for i in range(n)}
        await asyncio.wait_for(asyncio.gather(*(s.write(k, 1, stalled(d)) for k, d in datas.items())), 20)
        assert 0 < peak <= budget
        assert s.staging_budget.peak <= budget and s.staging_budget.held == 0
        for k, d in datas.items():
            assert await read_all(s, k) == d
    finally:
        await s.close()
