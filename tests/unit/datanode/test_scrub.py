"""Scrub on a real disk store: damage is found in exactly the shards it hit, truncated and
zero-length files and rows past the end are found, results are durable, a pass reads each
byte once at the configured rate, and pause / resume hold and release a pass."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
from pathlib import Path

import pytest

from cairn.datanode import scrub
from cairn.datanode.config import ScrubConfig
from cairn.datanode.errors import ShardCorrupt
from cairn.datanode.reports import Finding, FindingKind, ScrubState
from cairn.datanode.scrub import Scrubber
from cairn.datanode.shards import ShardKey
from cairn.datanode.store import DiskShardStore
from cairn.datanode.volume import FOOTER_SIZE, volume_path
from tests.unit.datanode.support import SMALL, FakeClock, key, open_store, pieces, read_all

STORAGE = dataclasses.replace(SMALL, writer_lanes=1, volume_size_limit_bytes=64 * 1024)
UNLIMITED = ScrubConfig(rate_mib_s=0)
SHARD = 17_000


async def filled(tmp_path: Path, n: int = 10) -> tuple[DiskShardStore, dict[ShardKey, bytes]]:
    """`n` shards: four to a sealed volume, the rest in the lane's volume."""
    store = await open_store(tmp_path, STORAGE)
    datas = {key(i): os.urandom(SHARD) for i in range(n)}
    for k, d in datas.items():
        await store.write(k, 2, pieces(d))
    return store, datas


async def location(store: DiskShardStore, k: ShardKey) -> tuple[int, int]:
    entry = await store.run_blocking(store.index.get, k)
    assert entry is not None
    return entry.volume, entry.offset


def flip(path: Path, at: int) -> None:
    """Flip one bit in place (the running store's descriptor sees it)."""
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0x10]))


def cut(path: Path, size: int) -> None:
    os.chmod(path, 0o644)
    os.truncate(path, size)


def kinds(findings: list[Finding]) -> dict[ShardKey, FindingKind]:
    return {f.key: f.kind for f in findings}


async def test_a_flipped_byte_is_found_in_exactly_that_shard(tmp_path: Path) -> None:
    store, datas = await filled(tmp_path)
    sealed_victim, lane_victim = list(datas)[1], list(datas)[9]
    for victim in (sealed_victim, lane_victim):
        volume, offset = await location(store, victim)
        flip(volume_path(tmp_path / "volumes", volume), offset + 5000)
    scrubber = Scrubber(store, UNLIMITED)
    try:
        result = await scrubber.run_pass()
        assert result.findings == 2 and len(result.volumes) == 3
        findings = await scrubber.findings()
        assert kinds(findings) == {sealed_victim: FindingKind.CORRUPT, lane_victim: FindingKind.CORRUPT}
        assert {f.pg for f in findings} == {2}  # the repair service needs the shard's PG
        by_volume = {v.volume: v for v in result.volumes}
        sealed_volume = (await location(store, sealed_victim))[0]
        assert (by_volume[sealed_volume].damaged, by_volume[sealed_volume].findings) == (1, 1)
        assert by_volume[sealed_volume].records == 3  # the other three verified whole
        clean = [v for v in result.volumes if v.volume != sealed_volume and v.damaged == 0]
        assert len(clean) == 1 and clean[0].error == "" and clean[0].records == 4
        for victim in (sealed_victim, lane_victim):
            with pytest.raises(ShardCorrupt):  # never served
                await read_all(store, victim)

        await store.write(sealed_victim, 2, pieces(datas[sealed_victim]))  # repair
        assert kinds(await scrubber.findings()) == {lane_victim: FindingKind.CORRUPT}
        await scrubber.run_pass()
        assert kinds(await scrubber.findings()) == {lane_victim: FindingKind.CORRUPT}
        status = await scrubber.status()
        assert status.findings == 1 and status.state is ScrubState.IDLE
    finally:
        await store.close()

    store = await open_store(tmp_path, STORAGE)  # findings and per-volume results are durable
    try:
        status = await Scrubber(store, UNLIMITED).status()
        assert status.findings == 1 and {v.volume for v in status.volumes} == {1, 2, 3}
        assert status.pass_finished_at is not None and status.pass_finished_at >= status.pass_started_at
    finally:
        await store.close()


async def test_damage_in_a_dead_record_is_counted_but_is_no_finding(tmp_path: Path) -> None:
    store, datas = await filled(tmp_path)
    gone = list(datas)[0]
    volume, offset = await location(store, gone)
    await store.delete([gone])
    flip(volume_path(tmp_path / "volumes", volume), offset + 3000)
    scrubber = Scrubber(store, UNLIMITED)
    try:
        result = await scrubber.run_pass()
        assert result.findings == 0 and await scrubber.findings() == []
        assert [v.damaged for v in result.volumes if v.volume == volume] == [1]
    finally:
        await store.close()


async def test_a_truncated_file_makes_the_shards_past_its_end_missing(tmp_path: Path) -> None:
    store, datas = await filled(tmp_path)
    first_four = list(datas)[:4]  # sealed volume 1
    volume, third = await location(store, first_four[2])
    assert volume == 1
    cut(volume_path(tmp_path / "volumes", 1), third + 100)  # in the middle of the third record
    scrubber = Scrubber(store, UNLIMITED)
    try:
        await scrubber.run_pass()
        assert kinds(await scrubber.findings()) == {
            first_four[2]: FindingKind.MISSING,
            first_four[3]: FindingKind.MISSING,
        }
        (one,) = [v for v in (await scrubber.status()).volumes if v.volume == 1]
        assert one.records == 2 and "sealed file is" in one.error
        assert await read_all(store, first_four[0]) == datas[first_four[0]]
    finally:
        await store.close()


async def test_a_zero_length_file_under_a_running_node(tmp_path: Path) -> None:
    store, datas = await filled(tmp_path)
    cut(volume_path(tmp_path / "volumes", 1), 0)
    scrubber = Scrubber(store, UNLIMITED)
    try:
        await scrubber.run_pass()
        assert kinds(await scrubber.findings()) == {k: FindingKind.MISSING for k in list(datas)[:4]}
        (one,) = [v for v in (await scrubber.status()).volumes if v.volume == 1]
        assert "file header damaged" in one.error
    finally:
        await store.close()


async def test_a_zero_length_file_found_at_start_leaves_its_shards_missing(tmp_path: Path) -> None:
    store, datas = await filled(tmp_path)
    await store.close()
    cut(volume_path(tmp_path / "volumes", 1), 0)
    store = await open_store(tmp_path, STORAGE)  # recovery moves the file aside
    scrubber = Scrubber(store, UNLIMITED)
    try:
        assert (tmp_path / "volumes" / "vol-00000001.damaged").exists()
        result = await scrubber.run_pass()
        assert result.findings == 4
        findings = await scrubber.findings()
        assert kinds(findings) == {k: FindingKind.MISSING for k in list(datas)[:4]}
        assert {f.detail for f in findings} == {"volume file 1 is missing"}
    finally:
        await store.close()


async def test_an_index_row_past_the_end_of_its_file(tmp_path: Path) -> None:
    store, datas = await filled(tmp_path)
    victim = list(datas)[2]
    await store.close()
    size = volume_path(tmp_path / "volumes", 1).stat().st_size
    with sqlite3.connect(tmp_path / "index.db") as conn:
        conn.execute("UPDATE shards SET offset = ? WHERE blob_id = ?", (size + 10, victim.blob_id))
    store = await open_store(tmp_path, STORAGE)
    scrubber = Scrubber(store, UNLIMITED)
    try:
        await scrubber.run_pass()
        (finding,) = await scrubber.findings()
        assert (finding.key, finding.kind, finding.offset) == (victim, FindingKind.MISSING, size + 10)
    finally:
        await store.close()


async def test_a_damaged_footer_is_a_volume_error(tmp_path: Path) -> None:
    store, datas = await filled(tmp_path)
    path = volume_path(tmp_path / "volumes", 1)
    flip(path, path.stat().st_size - FOOTER_SIZE + 20)  # the footer's whole-file CRC
    scrubber = Scrubber(store, UNLIMITED)
    try:
        await scrubber.run_pass()
        assert await scrubber.findings() == []  # every record is fine
        (one,) = [v for v in (await scrubber.status()).volumes if v.volume == 1]
        assert one.error == "footer damaged" and one.records == 4
    finally:
        await store.close()


async def test_a_pass_reads_every_byte_once_at_the_configured_rate(tmp_path: Path) -> None:
    store, _ = await filled(tmp_path, 13)
    clock = FakeClock()
    rate = 0.1  # MiB/s
    scrubber = Scrubber(store, ScrubConfig(rate_mib_s=rate), clock)
    try:
        sealed = [v.size for v in store.volume_set.all() if v.sealed]
        rows = await store.run_blocking(store.index.volumes)
        writable = [rows[v].committed_end for v in store.writable_volume_ids()]
        await scrubber.run_pass()
        total = sum(sealed) + sum(writable)
        assert scrubber.pacer.total_bytes == total == (await scrubber.status()).pass_bytes
        assert total <= rate * 2**20 * (clock.now + 0.1)  # never ahead of the rate (0.1 s burst)
        assert clock.now >= total / (rate * 2**20) - 0.1
    finally:
        await store.close()


async def test_an_interrupted_pass_goes_on_with_the_volumes_it_had_not_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scrub, "STEP_BYTES", 1)  # a record per step
    store, _ = await filled(tmp_path, 17)  # four sealed volumes and a lane volume
    clock = FakeClock()
    scrubber = Scrubber(store, ScrubConfig(rate_mib_s=1), clock)
    try:
        task = asyncio.create_task(scrubber.run_pass())
        while (await scrubber.status()).pass_volumes_done < 2:
            await clock.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        first = await scrubber.status()
        assert first.pass_finished_at is None
    finally:
        await store.close()
    store = await open_store(tmp_path, STORAGE)
    try:
        rest = await Scrubber(store, UNLIMITED, clock).run_pass()
        assert rest.started_at == first.pass_started_at
        assert len(rest.volumes) == 5 - first.pass_volumes_done
        assert len((await Scrubber(store, UNLIMITED, clock).status()).volumes) == 5
    finally:
        await store.close()


async def test_pause_holds_a_pass_and_survives_a_restart(tmp_path: Path) -> None:
    store, _ = await filled(tmp_path)
    scrubber = Scrubber(store, UNLIMITED)
    try:
        await scrubber.pause()
        task = asyncio.create_task(scrubber.run_pass())
        for _ in range(20):
            await asyncio.sleep(0.01)
        status = await scrubber.status()
        assert status.state is ScrubState.PAUSED and not task.done()
        await scrubber.resume()
        assert len((await asyncio.wait_for(task, 10)).volumes) == 3
        await scrubber.pause()
    finally:
        await store.close()
    store = await open_store(tmp_path, STORAGE)
    scrubber = Scrubber(store, ScrubConfig(interval_s=3600, rate_mib_s=0))
    try:
        assert (await scrubber.status()).state is ScrubState.PAUSED  # also with no timer running
        await scrubber.start()
        assert (await scrubber.status()).state is ScrubState.PAUSED
        assert await scrubber.start_pass()  # start un-pauses
        for _ in range(500):
            if (await scrubber.status()).state is ScrubState.IDLE:
                break
            await asyncio.sleep(0.01)
        assert (await scrubber.status()).state is ScrubState.IDLE
    finally:
        await scrubber.stop()
        await store.close()
