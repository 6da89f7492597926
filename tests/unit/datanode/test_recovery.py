"""Start-up recovery: torn tails at every byte, lost or damaged index, flipped bits."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from cairn.checksums import crc32c
from cairn.datanode.errors import ShardCorrupt, ShardDeleted, ShardNotFound
from cairn.datanode.shards import UNKNOWN_PG
from cairn.datanode.store import record_size
from cairn.datanode.volume import FILE_HEADER_SIZE, RecordHeader, RecordKind, VolumeFile, encode_record
from tests.unit.datanode.support import SMALL, key, open_store, pieces, read_all

ONE_LANE = dataclasses.replace(SMALL, writer_lanes=1)


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def damage_index(index: Path, how: str) -> None:
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{index}{suffix}").unlink(missing_ok=True)
    else:
        index.write_bytes(os.urandom(8192))


def moved_aside(data_dir: Path) -> list[Path]:
    return list(data_dir.glob("index.db.damaged-*"))


def writable_volume(data_dir: Path) -> Path:
    paths = sorted((data_dir / "volumes").glob("vol-*.cvol"))
    unsealed = [p for p in paths if not VolumeFile.open(p).sealed]
    assert len(unsealed) == 1
    return unsealed[0]


async def test_a_torn_last_record_is_cut_at_every_byte_offset(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    store = await open_store(pristine, ONE_LANE)
    acked = {key(i): os.urandom(n) for i, n in enumerate([0, 1, 70_000, 300])}
    for k, d in acked.items():
        await store.write(k, 1, pieces(d))
    seq = store.lanes[0]._next_seq() + 1
    await store.close()
    volume_name = writable_volume(pristine).name
    good_size = (pristine / "volumes" / volume_name).stat().st_size
    torn_key, payload = key(9), os.urandom(120)
    record = encode_record(
        RecordHeader(RecordKind.SHARD, seq, torn_key, 1, len(payload), crc32c(payload), 65536), payload
    )
    for cut in range(len(record) + 1):
        trial = tmp_path / f"cut-{cut}"
        shutil.copytree(pristine, trial)
        append(trial / "volumes" / volume_name, record[:cut])
        store = await open_store(trial, ONE_LANE)
        try:
            for k, d in acked.items():
                assert await read_all(store, k) == d, f"cut at {cut}"
            if cut < len(record):
                with pytest.raises(ShardNotFound):
                    await read_all(store, torn_key)
                assert (trial / "volumes" / volume_name).stat().st_size == good_size, f"cut at {cut}"
                assert store.recovered_truncated_bytes == cut
            else:  # whole but never acknowledged: indexed on start, reads back whole
                assert await read_all(store, torn_key) == payload
            assert (await store.stats()).live_shards == len(acked) + (cut == len(record))
        finally:
            await store.close()
        shutil.rmtree(trial)


@pytest.mark.parametrize("how", ["deleted", "garbage"])
async def test_a_lost_or_damaged_index_is_rebuilt_from_the_volumes(tmp_path: Path, how: str) -> None:
    storage = dataclasses.replace(SMALL, volume_size_limit_bytes=64 * 1024)
    store = await open_store(tmp_path, storage)
    datas = {key(i): os.urandom(20_000 + i) for i in range(10)}
    for k, d in datas.items():
        await store.write(k, 3, pieces(d))
    dead = list(datas)[:3]
    await store.delete(dead)
    await store.close()
    index = tmp_path / "index.db"
    damage_index(index, how)

    store = await open_store(tmp_path, storage)
    try:
        assert store.recovered_rebuilt
        for k, d in datas.items():
            if k in dead:
                with pytest.raises(ShardNotFound):
                    await read_all(store, k)
            else:
                assert await read_all(store, k) == d
        states = {i.key: i.state for i in await store.list_pg(3, None, 100)}
        assert states == {k: "dead" if k in dead else "live" for k in datas}
        stats = await store.stats()
        assert (stats.live_shards, stats.dead_shards) == (7, 3)
        new = key()
        await store.write(new, 3, pieces(b"after rebuild"))  # seq and volume ids continue
    finally:
        await store.close()
    store = await open_store(tmp_path, storage)
    assert not store.recovered_rebuilt and await read_all(store, new) == b"after rebuild"
    await store.close()
    if how == "garbage":
        assert moved_aside(tmp_path)


@pytest.mark.parametrize("how", ["restart", "rebuild"])
async def test_a_tombstone_for_a_key_never_held_survives_restart_and_rebuild(
    tmp_path: Path, how: str
) -> None:
    store = await open_store(tmp_path)
    late, held = key(1), key(2)
    await store.write(held, 4, pieces(b"held"))
    assert await store.delete([late]) == 0
    await store.close()
    if how == "rebuild":
        damage_index(tmp_path / "index.db", "deleted")

    store = await open_store(tmp_path)
    try:
        assert store.recovered_rebuilt == (how == "rebuild")
        with pytest.raises(ShardDeleted):
            await store.write(late, 4, pieces(b"late"))
        with pytest.raises(ShardNotFound):
            await read_all(store, late)
        assert [(i.key, i.state) for i in await store.list_pg(UNKNOWN_PG, None, 10)] == [(late, "dead")]
        stats = await store.stats()
        assert (stats.live_shards, stats.dead_shards) == (1, 1)
        assert await read_all(store, held) == b"held"
    finally:
        await store.close()


@pytest.mark.parametrize("how", ["restart", "rebuild"])
async def test_a_released_copy_stays_released_after_restart_and_rebuild(tmp_path: Path, how: str) -> None:
    store = await open_store(tmp_path)
    given_up, kept = key(1), key(2)
    await store.write(given_up, 4, pieces(b"given up"))
    await store.write(kept, 4, pieces(b"kept"))
    assert await store.delete([given_up], release=True) == 1
    await store.close()
    if how == "rebuild":
        damage_index(tmp_path / "index.db", "deleted")

    store = await open_store(tmp_path)
    try:
        assert store.recovered_rebuilt == (how == "rebuild")
        assert [(i.key, i.state) for i in await store.list_pg(4, None, 10)] == [(kept, "live")]
        with pytest.raises(ShardNotFound):
            await read_all(store, given_up)
        assert not (await store.write(given_up, 4, pieces(b"given up"))).already_present
        assert await read_all(store, given_up) == b"given up"
    finally:
        await store.close()


def flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


async def test_a_flipped_header_bit_is_corruption_and_hides_no_later_record(tmp_path: Path) -> None:
    store = await open_store(tmp_path, ONE_LANE)
    datas = {key(i): os.urandom(5_000) for i in range(3)}
    for k, d in datas.items():
        await store.write(k, 1, pieces(d))
    middle = list(datas)[1]
    offset = (await store.run_blocking(store._index.get, middle)).offset
    await store.close()
    path = writable_volume(tmp_path)
    size = path.stat().st_size
    flip(path, offset + 20)  # inside the blob id

    store = await open_store(tmp_path, ONE_LANE)
    try:
        assert path.stat().st_size == size  # acknowledged bytes are never truncated
        for k, d in datas.items():
            if k == middle:
                with pytest.raises(ShardCorrupt):
                    await read_all(store, k)
            else:
                assert await read_all(store, k) == d
    finally:
        await store.close()

    (tmp_path / "index.db").unlink()  # a rebuild resynchronises past the damaged record
    store = await open_store(tmp_path, ONE_LANE)
    try:
        for k, d in datas.items():
            if k != middle:
                assert await read_all(store, k) == d
        with pytest.raises(ShardNotFound):
            await read_all(store, middle)  # its key is unreadable; repair restores it
    finally:
        await store.close()


async def test_a_flipped_payload_bit_is_corruption_after_restart(tmp_path: Path) -> None:
    store = await open_store(tmp_path, ONE_LANE)
    k, data = key(), os.urandom(150_000)
    await store.write(k, 1, pieces(data))
    await store.close()
    path = writable_volume(tmp_path)
    flip(path, path.stat().st_size - 100)
    store = await open_store(tmp_path, ONE_LANE)
    try:
        with pytest.raises(ShardCorrupt):
            await read_all(store, k)
        assert await read_all(store, k, 0, 65536) == data[:65536]
    finally:
        await store.close()


@pytest.mark.parametrize("sealed", [False, True])
async def test_a_volume_cut_below_its_committed_end_is_quarantined_not_appended_to(
    tmp_path: Path, sealed: bool
) -> None:
    """Acknowledged records lost from a volume's end: the volume is sealed where it ends, its
    intact shards stay readable, the lost ones read as corrupt (never as other bytes) until a
    rewrite repairs them, and new writes go to a fresh volume."""
    storage = dataclasses.replace(ONE_LANE, volume_size_limit_bytes=64 * 1024 if sealed else 1 << 20)
    size = 20_000
    store = await open_store(tmp_path, storage)
    datas = {key(i): os.urandom(size) for i in range(6)}
    for k, d in datas.items():
        await store.write(k, 3, pieces(d))
    await store.close()
    first = tmp_path / "volumes" / "vol-00000001.cvol"
    in_first = 4 if sealed else 6  # the 4th record takes a 64 KiB volume past its limit
    assert VolumeFile.open(first).sealed == sealed
    cut = FILE_HEADER_SIZE + 2 * record_size(size) + 100  # mid-way into the 3rd record
    first.chmod(0o644)
    os.truncate(first, cut)
    keys = list(datas)
    lost = keys[2:in_first]

    store = await open_store(tmp_path, storage)
    try:
        assert store.recovered_quarantined == [1]
        assert VolumeFile.open(first).sealed and first.stat().st_mode & 0o222 == 0  # read-only
        assert 1 not in [lane.volume.volume_id for lane in store.lanes]
        quarantined_size = first.stat().st_size
        for k in lost:
            with pytest.raises(ShardCorrupt):
                await read_all(store, k)
        fresh = {key(100 + i): os.urandom(size) for i in range(5)}
        for k, d in fresh.items():
            await store.write(k, 3, pieces(d))
        assert first.stat().st_size == quarantined_size
        for k, d in [*datas.items(), *fresh.items()]:
            if k in lost:
                with pytest.raises(ShardCorrupt):
                    await read_all(store, k)
            else:
                assert await read_all(store, k) == d
        repaired = lost[0]
        assert not (await store.write(repaired, 3, pieces(datas[repaired]))).already_present
    finally:
        await store.close()

    store = await open_store(tmp_path, storage)
    try:
        assert store.recovered_quarantined == []
        for k, d in [*datas.items(), *fresh.items()]:
            if k in lost[1:]:
                with pytest.raises(ShardCorrupt):
                    await read_all(store, k)
            else:
                assert await read_all(store, k) == d
    finally:
        await store.close()
