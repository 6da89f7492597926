"""Compaction on a real disk store: space comes back, every live shard reads back identical,
deleted shards stay deleted (also after an index rebuild from the files alone), damaged live
records are never dropped, foreground reads, writes and deletes go on, and a job interrupted
after any phase settles on the next start."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from cairn.datanode import compaction
from cairn.datanode.compaction import Compactor
from cairn.datanode.compaction_record import RECORD_NAME, Job, Phase
from cairn.datanode.config import CompactionConfig
from cairn.datanode.errors import ShardCorrupt, ShardDeleted, ShardNotFound, VolumeNotCompactable
from cairn.datanode.shards import ShardKey
from cairn.datanode.store import DiskShardStore
from tests.faults.test_datanode_faults import damage_first_copy
from tests.unit.datanode.support import SMALL, FakeClock, key, open_store, pieces, read_all

#: One lane, 64 KiB volumes: four 17 kB shards fill and seal a volume.
STORAGE = dataclasses.replace(SMALL, writer_lanes=1, volume_size_limit_bytes=64 * 1024)
EAGER = CompactionConfig(dead_fraction=0.5, min_dead_bytes=0, rate_mib_s=0)
SHARD = 17_000


class Crash(BaseException):
    """Stands in for the process dying right after a phase reached the disk."""


def volume_files(data_dir: Path, suffix: str = "cvol") -> list[str]:
    return sorted(p.name for p in (data_dir / "volumes").glob(f"*.{suffix}"))


def drop_index(data_dir: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data_dir / 'index.db'}{suffix}").unlink(missing_ok=True)


async def write_all(store: DiskShardStore, datas: dict[ShardKey, bytes], pg: int = 5) -> None:
    for k, d in datas.items():
        await store.write(k, pg, pieces(d))


async def assert_contents(store: DiskShardStore, live: dict[ShardKey, bytes], dead: list[ShardKey]) -> None:
    for k, d in live.items():
        assert await read_all(store, k) == d
    for k in dead:
        with pytest.raises(ShardNotFound):
            await read_all(store, k)
        with pytest.raises(ShardDeleted):
            await store.write(k, 5, pieces(b"resurrected?"))


async def assert_after_rebuild(data_dir: Path, live: dict[ShardKey, bytes], dead: list[ShardKey]) -> None:
    """The same contents with the index rebuilt from the volume files alone."""
    drop_index(data_dir)
    store = await open_store(data_dir, STORAGE)
    try:
        assert store.recovered_rebuilt
        await assert_contents(store, live, dead)
    finally:
        await store.close()


async def volume_of(store: DiskShardStore, k: ShardKey) -> int:
    entry = await store.run_blocking(store.index.get, k)
    assert entry is not None
    return entry.volume


async def mostly_dead(tmp_path: Path) -> tuple[DiskShardStore, dict[ShardKey, bytes], list[ShardKey]]:
    """24 shards over six sealed volumes, three quarters of them deleted."""
    store = await open_store(tmp_path, STORAGE)
    datas = {key(i): os.urandom(SHARD) for i in range(24)}
    await write_all(store, datas)
    dead = [k for i, k in enumerate(datas) if i % 4]
    await store.delete(dead)
    return store, {k: d for k, d in datas.items() if k not in dead}, dead


async def test_a_pass_reclaims_dead_bytes_and_every_shard_reads_back(tmp_path: Path) -> None:
    store, live, dead = await mostly_dead(tmp_path)
    before = store.used_bytes
    compactor = Compactor(store, EAGER)
    try:
        results = await compactor.run_pass()
        assert len(results) >= 5 and {r.outcome for r in results} == {"done"}
        reclaimed = sum(r.reclaimed_bytes for r in results)
        assert reclaimed > 0.6 * len(dead) * SHARD
        assert store.used_bytes == before - reclaimed
        for r in results:  # each source is gone, replaced by a smaller target
            assert f"vol-{r.source:08d}.cvol" not in volume_files(tmp_path)
            assert 0 < r.target_bytes < r.source_bytes / 2
        await assert_contents(store, live, dead)
        status = await compactor.status()
        assert (status.compacted, status.aborted, status.reclaimed_bytes) == (len(results), 0, reclaimed)
        assert not status.running and status.current is None
        assert await compactor.run_pass() == []  # nothing left past the threshold
    finally:
        await store.close()
    assert not (tmp_path / RECORD_NAME).exists() and volume_files(tmp_path, "cpt") == []

    store = await open_store(tmp_path, STORAGE)  # a restart ...
    try:
        await assert_contents(store, live, dead)
    finally:
        await store.close()
    await assert_after_rebuild(tmp_path, live, dead)  # ... and an index rebuilt from the files alone


async def test_a_tombstone_survives_the_compaction_of_its_volume_and_an_index_rebuild(tmp_path: Path) -> None:
    store = await open_store(tmp_path, STORAGE)
    kept = {key(i): os.urandom(SHARD) for i in range(4)}
    await write_all(store, kept)  # volume 1: sealed, a quarter dead below
    victim = next(iter(kept))
    await store.delete([victim])  # its tombstone opens volume 2
    fillers = {key(i): os.urandom(SHARD) for i in range(4)}
    await write_all(store, fillers)  # volume 2 fills up and is sealed
    await store.delete(list(fillers))
    tomb_volume = await volume_of(store, victim)
    data_volume = await volume_of(store, list(kept)[1])
    assert tomb_volume != data_volume
    compactor = Compactor(store, EAGER)
    results = await compactor.run_pass()
    assert [(r.source, r.outcome) for r in results] == [(tomb_volume, "done")]  # volume 1 stays
    assert await volume_of(store, victim) == results[0].target  # the tombstone moved
    await store.close()

    await assert_after_rebuild(tmp_path, {k: d for k, d in kept.items() if k != victim}, [victim, *fillers])


async def test_a_tombstone_lost_in_a_quarantined_stretch_is_written_again(tmp_path: Path) -> None:
    store = await open_store(tmp_path, STORAGE)
    survivor, victim = key(1), key(2)
    data = {survivor: os.urandom(5_000), victim: os.urandom(5_000)}
    await write_all(store, data)
    end_before_delete = (await store.run_blocking(store.index.volumes))[1].committed_end
    await store.delete([victim])
    await store.close()
    path = tmp_path / "volumes" / volume_files(tmp_path)[0]
    os.truncate(path, end_before_delete)  # the tombstone's stretch is lost

    store = await open_store(tmp_path, STORAGE)
    quarantined = store.recovered_quarantined
    assert quarantined == [1]
    await store.close()
    # Premise: the files alone no longer say the victim is deleted.
    premise = tmp_path.parent / "premise"
    shutil.copytree(tmp_path, premise)
    drop_index(premise)
    rebuilt = await open_store(premise, STORAGE)
    assert await read_all(rebuilt, victim) == data[victim]
    await rebuilt.close()

    store = await open_store(tmp_path, STORAGE)
    try:
        await assert_contents(store, {survivor: data[survivor]}, [victim])
        result = await Compactor(store, EAGER).compact(1)
        assert result.outcome == "done" and result.records == 2  # the survivor and a fresh tombstone
    finally:
        await store.close()
    await assert_after_rebuild(tmp_path, {survivor: data[survivor]}, [victim])


async def test_a_damaged_live_record_is_never_dropped(tmp_path: Path) -> None:
    store = await open_store(tmp_path, STORAGE)
    datas = {key(i): os.urandom(SHARD) for i in range(4)}
    await write_all(store, datas)
    damaged = list(datas)[0]
    await store.delete(list(datas)[1:])
    damage_first_copy(tmp_path / "volumes", datas[damaged][1000:2000])
    compactor = Compactor(store, EAGER)
    try:
        (result,) = await compactor.run_pass()
        assert result.outcome.startswith("aborted: live shard") and result.reclaimed_bytes == 0
        assert volume_files(tmp_path) == ["vol-00000001.cvol", "vol-00000002.cvol"]
        assert volume_files(tmp_path, "cpt") == [] and not (tmp_path / RECORD_NAME).exists()
        with pytest.raises(ShardCorrupt):
            await read_all(store, damaged)
        assert await compactor.run_pass() == []  # not retried while nothing changed

        await store.write(damaged, 5, pieces(datas[damaged]))  # repair: a good copy elsewhere
        (result,) = await compactor.run_pass()
        assert (result.source, result.target, result.outcome) == (1, 0, "done")  # nothing left in it
        await assert_contents(store, {damaged: datas[damaged]}, list(datas)[1:])
        assert (await compactor.status()).aborted == 1
    finally:
        await store.close()


async def test_a_read_that_raced_the_switch_gets_its_bytes(tmp_path: Path) -> None:
    store, live, _ = await mostly_dead(tmp_path)
    first, second = list(live)[:2]
    source = await volume_of(store, first)
    pinned = await store.open_read(first)  # looked up and pinned before the switch
    stale = await store.run_blocking(store.index.get, second)  # looked up only
    assert stale is not None and stale.volume == await volume_of(store, second)
    compactor = Compactor(store, EAGER)
    try:
        results = {r.source: r for r in await compactor.run_pass()}
        assert results[source].outcome == "done" and results[stale.volume].outcome == "done"
        assert f"vol-{source:08d}.cvol" not in volume_files(tmp_path)
        assert b"".join([c async for c in pinned.chunks]) == live[first]
        # The lookup happened before the switch, the pin after: the row is looked up again.
        chunks = await store.run_blocking(store._read_blocking, stale, 0, stale.length)
        assert b"".join(chunks) == live[second]
    finally:
        await store.close()


async def test_writes_and_deletes_go_on_during_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compaction, "STEP_BYTES", 1)  # one record per step: the foreground interleaves
    store, live, dead = await mostly_dead(tmp_path)
    clock = FakeClock()
    compactor = Compactor(store, dataclasses.replace(EAGER, rate_mib_s=1), clock)
    doomed = list(live)[: len(live) // 2]
    added: dict[ShardKey, bytes] = {}
    try:
        task = compactor.start_pass()
        assert task and not compactor.start_pass()  # one pass at a time
        while compactor.running:
            if doomed:
                victim = doomed.pop()
                await store.delete([victim])
                dead.append(victim)
                del live[victim]
            new = key(len(added))
            added[new] = os.urandom(3_000)
            await store.write(new, 6, pieces(added[new]))
            await clock.sleep(0)
        assert not doomed and (await compactor.status()).compacted >= 5
        live.update(added)
        await assert_contents(store, live, dead)
    finally:
        await store.close()
    await assert_after_rebuild(tmp_path, live, dead)


async def test_a_background_pass_can_be_followed_to_its_end(tmp_path: Path) -> None:
    store, live, dead = await mostly_dead(tmp_path)
    clock = FakeClock()
    compactor = Compactor(store, dataclasses.replace(EAGER, rate_mib_s=0.05), clock)
    try:
        with pytest.raises(VolumeNotCompactable):  # a writer lane's volume
            compactor.start_pass(volume=store.writable_volume_ids()[0])
        with pytest.raises(VolumeNotCompactable):
            compactor.start_pass(volume=999)
        assert [p async for p in compactor.follow_pass()] == []  # no pass yet
        assert compactor.start_pass() and not compactor.start_pass()
        seen = [p async for p in compactor.follow_pass(interval_s=0.001)]
        first, last = seen[0], seen[-1]
        assert first.finished_at is None and last.finished_at is not None
        assert len(last.volumes) >= 5 and [r.source for r in last.results] == list(last.volumes)
        assert any(0 < len(p.results) < len(last.volumes) for p in seen)  # progress on the way
        assert last.reclaimed_bytes == sum(r.reclaimed_bytes for r in last.results) > 0
        status = await compactor.status()
        assert status.last_pass == last and not status.running
        assert [p async for p in compactor.follow_pass()] == [last]  # an ended pass: its end at once

        (one,) = [v for v in store.volume_set.all() if v.sealed][:1]  # any sealed volume, dead or not
        assert compactor.start_pass(volume=one.volume_id)
        (*_, only) = [p async for p in compactor.follow_pass(interval_s=0.001)]
        assert only.volumes == (one.volume_id,) and only.results[0].outcome == "done"
        await assert_contents(store, live, dead)
    finally:
        await store.close()


@pytest.mark.parametrize("phase", list(Phase))
async def test_a_job_interrupted_after_any_phase_settles_on_restart(tmp_path: Path, phase: Phase) -> None:
    store, live, dead = await mostly_dead(tmp_path)
    source = await volume_of(store, next(iter(live)))

    def crash(job: Job) -> None:
        if job.phase is phase:
            raise Crash(phase.name)

    compactor = Compactor(store, EAGER, on_persisted=crash)
    with pytest.raises(Crash):
        await compactor.compact(source)
    await store.close()
    assert (tmp_path / RECORD_NAME).exists()

    store = await open_store(tmp_path, STORAGE)
    try:
        settled = store.recovered_compaction
        source_file = f"vol-{source:08d}.cvol"
        if phase < Phase.COPIED:
            assert settled is not None and settled.outcome.startswith("rolled back")
            assert source_file in volume_files(tmp_path)
        elif phase < Phase.DONE:
            assert settled is not None and settled.outcome == "done"
            assert source_file not in volume_files(tmp_path)
        else:  # DONE was on disk: only the record was left to delete
            assert settled is None and source_file not in volume_files(tmp_path)
        assert not (tmp_path / RECORD_NAME).exists() and volume_files(tmp_path, "cpt") == []
        await assert_contents(store, live, dead)
        used = store.used_bytes
        results = await Compactor(store, EAGER).run_pass()  # the rest completes normally
        assert {r.outcome for r in results} <= {"done"}
        assert store.used_bytes <= used
        await assert_contents(store, live, dead)
    finally:
        await store.close()
    await assert_after_rebuild(tmp_path, live, dead)


async def test_a_damaged_record_file_keeps_both_volumes(tmp_path: Path) -> None:
    store, live, dead = await mostly_dead(tmp_path)
    source = await volume_of(store, next(iter(live)))

    def crash(job: Job) -> None:
        if job.phase is Phase.COPIED:
            raise Crash()

    with pytest.raises(Crash):
        await Compactor(store, EAGER, on_persisted=crash).compact(source)
    await store.close()
    record = tmp_path / RECORD_NAME
    data = record.read_bytes()
    record.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # a changed byte (a \0 could be no change)
    store = await open_store(tmp_path, STORAGE)
    try:
        assert store.recovered_compaction is None and (tmp_path / "compaction.damaged").exists()
        assert f"vol-{source:08d}.cvol" in volume_files(tmp_path)  # the source stays ...
        await assert_contents(store, live, dead)
        results = await Compactor(store, EAGER).run_pass()  # ... and the duplicate target is dead
        assert {r.outcome for r in results} == {"done"}
        await assert_contents(store, live, dead)
    finally:
        await store.close()


async def test_candidates_need_both_thresholds(tmp_path: Path) -> None:
    store = await open_store(tmp_path, STORAGE)
    datas = {key(i): os.urandom(SHARD) for i in range(5)}  # volume 1 sealed with 4 shards
    await write_all(store, datas)
    await store.delete(list(datas)[:2])  # half of volume 1 is dead
    compactor = Compactor(store, EAGER)
    try:
        assert [c.volume for c in await compactor.candidates(0.4, 0)] == [1]
        assert await compactor.candidates(0.6, 0) == []
        assert await compactor.candidates(0.4, 3 * SHARD) == []
        (candidate,) = await compactor.candidates(0.0, 0)  # lane volumes are never candidates
        assert 0.45 < candidate.dead_fraction < 0.55
    finally:
        await store.close()


async def test_a_mostly_dead_read_write_volume_is_sealed_and_compacted(tmp_path: Path) -> None:
    store = await open_store(tmp_path, STORAGE)
    datas = {key(i): os.urandom(SHARD) for i in range(3)}  # the lane's volume 1, not full
    await write_all(store, datas)
    (kept, *dead) = datas
    await store.delete(dead)
    assert store.writable_volume_ids() == [1]
    before = store.used_bytes
    compactor = Compactor(store, EAGER)
    try:
        (result,) = await compactor.run_pass()
        assert (result.source, result.outcome) == (1, "done")
        assert store.writable_volume_ids() != [1]  # the lane goes on in a fresh volume
        assert store.used_bytes < before - len(dead) * SHARD + SHARD // 2
        fresh = {key(10): os.urandom(SHARD)}
        await write_all(store, fresh)  # writes go on in the lane's new volume
        await assert_contents(store, {kept: datas[kept], **fresh}, dead)
        assert await compactor.run_pass() == []  # a volume with nothing dead is left alone
    finally:
        await store.close()
    await assert_after_rebuild(tmp_path, {kept: datas[kept], **fresh}, dead)


async def test_copying_is_paced_to_the_configured_rate(tmp_path: Path) -> None:
    store, _, _ = await mostly_dead(tmp_path)
    clock = FakeClock()
    rate = 0.05  # MiB/s: the pass copies about 0.1 MiB
    compactor = Compactor(store, dataclasses.replace(EAGER, rate_mib_s=rate), clock)
    try:
        results = await compactor.run_pass()
        assert results
        read = compactor.pacer.total_bytes
        assert read >= sum(r.target_bytes - 64 for r in results)  # every copied byte was counted
        assert read <= rate * 2**20 * (clock.now + 0.1)  # never ahead of the rate (0.1 s burst)
        assert clock.now >= read / (rate * 2**20) - 0.1
    finally:
        await store.close()


def test_the_fault_hook_names_a_phase() -> None:
    assert compaction.fault_hook({}) is None
    assert compaction.fault_hook({compaction.FAULT_ENV: "switched"}) is not None
    with pytest.raises(ValueError, match="not one of"):
        compaction.fault_hook({compaction.FAULT_ENV: "halfway"})


@pytest.mark.parametrize("first", ["tombstone volume", "data volume"])
async def test_a_dead_row_in_the_old_form_converges(tmp_path: Path, first: str) -> None:
    """A dead row written before dead rows pointed at their tombstone points at the deleted
    data record. Whichever volume is compacted first, the key keeps exactly one tombstone, its
    row ends up pointing at it, and no compaction keeps a tombstone nothing points at."""
    store = await open_store(tmp_path, STORAGE)
    kept = {key(i): os.urandom(SHARD) for i in range(4)}
    await write_all(store, kept)  # volume 1, sealed
    victim = next(iter(kept))
    data_row = await store.run_blocking(store.index.get, victim)
    await store.delete([victim])  # tombstone in volume 2
    fillers = {key(i): os.urandom(SHARD) for i in range(4)}
    await write_all(store, fillers)  # volume 2 sealed
    await store.delete(list(fillers))
    await store.close()
    assert data_row is not None and data_row.volume == 1
    with sqlite3.connect(tmp_path / "index.db") as conn:  # the old form of the dead row
        conn.execute(
            "UPDATE shards SET volume = 1, offset = ? WHERE blob_id = ?", (data_row.offset, victim.blob_id)
        )

    store = await open_store(tmp_path, STORAGE)
    compactor = Compactor(store, EAGER)
    try:

        def copies() -> list[tuple[str, int, int]]:
            return [
                (rec.header.kind.name, v.volume_id, rec.offset)
                for v in store.volume_set.all()
                for rec in v.scan()[0]
                if rec.header.key == victim
            ]

        results = []
        for volume in [2, 1] if first == "tombstone volume" else [1, 2]:
            results.append(await compactor.compact(volume))
            assert "TOMBSTONE" in {kind for kind, _, _ in copies()}, "the files lost the delete"
        assert [r.outcome for r in results] == ["done", "done"]
        row = await store.run_blocking(store.index.get, victim)
        assert row is not None and copies() == [("TOMBSTONE", row.volume, row.offset)]
        assert await compactor.run_pass() == []  # nothing kept for nothing: no endless re-copying
        live = {k: d for k, d in kept.items() if k != victim}
        await assert_contents(store, live, [victim, *fillers])
    finally:
        await store.close()
    await assert_after_rebuild(tmp_path, {k: d for k, d in kept.items() if k != victim}, [victim, *fillers])
