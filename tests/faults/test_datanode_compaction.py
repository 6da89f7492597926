"""Compaction and scrub in a real data node process: the process dies (exit 137, as after
kill -9) right after each compaction phase reaches the disk, and the restarted node rolls the
job back or forward with every live shard byte-identical and every deleted one still deleted
(also after an index rebuild); compaction under a continuous reader and writer; scrub finding
a flipped byte under a running node."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from pathlib import Path

import pytest

from cairn.datanode.client import DataNodeClient, ShardCorrupt, ShardKey, ShardNotFound
from cairn.datanode.compaction import FAULT_ENV
from cairn.datanode.compaction_record import RECORD_NAME, Phase, decode
from cairn.datanode.errors import ShardDeleted
from cairn.datanode.reports import FindingKind
from tests.faults.test_datanode_faults import damage_first_copy, remove_index
from tests.integration.test_datanode import pieces_of, read_all, ready_client
from tests.support.procs import ServiceProcess, free_port, wait_for

SHARD = 40_000
BASE_ENV = {
    "CAIRN_DATANODE_STORAGE_VOLUME_SIZE_LIMIT_BYTES": str(256 * 1024),
    "CAIRN_DATANODE_STORAGE_WRITER_LANES": "2",
    "CAIRN_DATANODE_COMPACTION_ENABLED": "0",
    "CAIRN_DATANODE_COMPACTION_INTERVAL_S": "0.3",
    "CAIRN_DATANODE_COMPACTION_DEAD_FRACTION": "0.5",
    "CAIRN_DATANODE_COMPACTION_MIN_DEAD_BYTES": "0",
    "CAIRN_DATANODE_COMPACTION_RATE_MIB_S": "0",
    "CAIRN_DATANODE_SCRUB_ENABLED": "0",
}
COMPACTING = {"CAIRN_DATANODE_COMPACTION_ENABLED": "1"}
#: Shards that fill each of the 2 lanes' 256 KiB volume past its limit at least once.
LANE_FILL = 2 * 8


def start(
    data_dir: Path, port: int, processes: list[ServiceProcess], env: dict[str, str] | None = None
) -> ServiceProcess:
    log = data_dir.parent / f"datanode-{port}-{len(processes)}.log"
    proc = ServiceProcess(
        "cairn.datanode",
        ["--data-dir", str(data_dir), "--port", str(port), "--node-host", "h1", "--capacity", str(1 << 30)],
        log,
        env={**BASE_ENV, **(env or {})},
    ).start()
    processes.append(proc)
    listening = f"datanode listening on 127.0.0.1:{port}"
    wait_for(lambda: listening in proc.log_tail(300) or not proc.alive(), 20, "the data node to listen")
    return proc


async def end_lanes_with_live_shards(client: DataNodeClient, datas: dict[ShardKey, bytes]) -> None:
    """Write LANE_FILL more shards (added to `datas`): each writer lane's read-write volume then
    holds live shards only, so a pass seals none of them for compaction (a sealed lane volume
    gains its footer and the lane a new file: the volume bytes would change for that alone)."""
    for _ in range(LANE_FILL):
        k, d = ShardKey(os.urandom(16), 0), os.urandom(SHARD)
        await client.write_shard(k, 1, pieces_of(d))
        datas[k] = d


def volume_bytes(data_dir: Path) -> int:
    """Bytes of volume files now (a running compaction may remove one while we look)."""
    total = 0
    for path in (data_dir / "volumes").iterdir():
        if path.suffix in (".cvol", ".cpt"):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
    return total


def phase_on_disk(data_dir: Path) -> Phase | None:
    try:
        return decode((data_dir / RECORD_NAME).read_bytes()).phase
    except FileNotFoundError:
        return None


async def check(port: int, live: dict[ShardKey, bytes], dead: list[ShardKey]) -> None:
    client = await ready_client(port)
    try:
        for k, d in live.items():
            assert await read_all(client, k) == d
        for k in dead:
            with pytest.raises(ShardNotFound):
                await read_all(client, k)
        with pytest.raises(ShardDeleted):
            await client.write_shard(dead[0], 1, pieces_of(b"back from the dead?"))
    finally:
        await client.close()


@pytest.mark.parametrize("phase", list(Phase), ids=[p.name for p in Phase])
async def test_a_node_killed_after_any_compaction_phase_settles_on_restart(
    tmp_path: Path, processes: list[ServiceProcess], phase: Phase
) -> None:
    port, data_dir = free_port(), tmp_path / "node"
    node = start(data_dir, port, processes)
    client = await ready_client(port)
    try:
        datas = {ShardKey(os.urandom(16), i % 12): os.urandom(SHARD) for i in range(60)}
        for k, d in datas.items():
            await client.write_shard(k, 1, pieces_of(d))
        dead = [k for i, k in enumerate(datas) if i % 3]
        assert await client.delete_shards(dead) == len(dead)
        await end_lanes_with_live_shards(client, datas)
    finally:
        await client.close()
    live = {k: d for k, d in datas.items() if k not in dead}
    await asyncio.to_thread(node.stop)
    before = volume_bytes(data_dir)

    node = start(data_dir, port, processes, {**COMPACTING, FAULT_ENV: phase.name})
    await asyncio.to_thread(wait_for, lambda: not node.alive(), 30, f"the node to die after {phase.name}")
    assert node.proc is not None and node.proc.returncode == 137, node.log_tail()
    assert phase_on_disk(data_dir) is phase

    node = start(data_dir, port, processes)  # compaction off: only the restart settles the job
    assert f"at phase {phase.name}" in node.log_tail(300)
    assert not (data_dir / RECORD_NAME).exists()
    assert not list((data_dir / "volumes").glob("*.cpt"))
    if phase < Phase.COPIED:
        assert "rolled back" in node.log_tail(300) and volume_bytes(data_dir) == before
    else:
        assert volume_bytes(data_dir) < before  # the source is gone
    await check(port, live, dead)
    await asyncio.to_thread(node.stop)

    await asyncio.to_thread(remove_index, data_dir)  # the files alone must tell live from deleted
    node = start(data_dir, port, processes, COMPACTING)
    await asyncio.to_thread(
        wait_for, lambda: volume_bytes(data_dir) < 0.6 * before, 30, "compaction to reclaim the dead bytes"
    )
    await check(port, live, dead)


async def test_a_real_kill_9_in_the_middle_of_copying_rolls_back(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    port, data_dir = free_port(), tmp_path / "node"
    node = start(data_dir, port, processes)
    client = await ready_client(port)
    try:
        datas = {ShardKey(os.urandom(16), 0): os.urandom(SHARD) for i in range(30)}
        for k, d in datas.items():
            await client.write_shard(k, 1, pieces_of(d))
        dead = [k for i, k in enumerate(datas) if i % 3]
        await client.delete_shards(dead)
        await end_lanes_with_live_shards(client, datas)
    finally:
        await client.close()
    await asyncio.to_thread(node.stop)
    before = volume_bytes(data_dir)

    slow = {**COMPACTING, "CAIRN_DATANODE_COMPACTION_RATE_MIB_S": "0.02"}  # ~2 s per volume
    node = start(data_dir, port, processes, slow)
    scratch = data_dir / "volumes"
    await asyncio.to_thread(wait_for, lambda: phase_on_disk(data_dir) is Phase.COPYING, 30, "a job copying")
    await asyncio.to_thread(node.kill9)
    assert phase_on_disk(data_dir) is Phase.COPYING and any(scratch.glob("*.cpt"))

    node = start(data_dir, port, processes)
    assert "rolled back" in node.log_tail(300) and not any(scratch.glob("*.cpt"))
    assert volume_bytes(data_dir) == before
    await check(port, {k: d for k, d in datas.items() if k not in dead}, dead)


async def test_compaction_under_a_continuous_reader_and_writer(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    port, data_dir = free_port(), tmp_path / "node"
    node = start(data_dir, port, processes, {**COMPACTING, "CAIRN_DATANODE_COMPACTION_DEAD_FRACTION": "0.3"})
    client = await ready_client(port)
    stable = {ShardKey(os.urandom(16), 0): os.urandom(SHARD) for _ in range(20)}
    churn: dict[ShardKey, bytes] = {}
    deleted: list[ShardKey] = []
    errors: list[BaseException] = []
    done = asyncio.Event()
    rng = random.Random(7)

    def compactions() -> int:
        return node.log_tail(2000).count(": done")

    async def writer() -> None:
        while not done.is_set():
            k = ShardKey(os.urandom(16), 1)
            churn[k] = os.urandom(rng.randrange(10_000, 60_000))
            await client.write_shard(k, 2, pieces_of(churn[k]))
            if len(churn) > 6:  # keep a few; the rest becomes dead bytes
                old = next(iter(churn))
                del churn[old]
                await client.delete_shards([old])
                deleted.append(old)

    async def reader() -> None:
        while not done.is_set():
            k = rng.choice(list(stable))
            assert await read_all(client, k) == stable[k]

    async def guarded(work: asyncio.Task[None]) -> None:
        try:
            await work
        except Exception as exc:  # any error at all fails the test
            errors.append(exc)
            done.set()

    try:
        for k, d in stable.items():
            await client.write_shard(k, 3, pieces_of(d))
        tasks = [asyncio.create_task(guarded(asyncio.create_task(w()))) for w in (writer, reader, reader)]
        await asyncio.to_thread(wait_for, lambda: compactions() >= 5 or done.is_set(), 60, "five compactions")
        done.set()
        await asyncio.gather(*tasks)
        assert errors == []
        for k, d in {**stable, **churn}.items():
            assert await read_all(client, k) == d
        for k in deleted:
            with pytest.raises(ShardNotFound):
                await read_all(client, k)
    finally:
        done.set()
        await client.close()


async def test_scrub_finds_a_flipped_byte_under_a_running_node(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    port, data_dir = free_port(), tmp_path / "node"
    scrubbing = {"CAIRN_DATANODE_SCRUB_ENABLED": "1", "CAIRN_DATANODE_SCRUB_INTERVAL_S": "0.5"}
    node = start(data_dir, port, processes, scrubbing)
    client = await ready_client(port)
    try:
        datas = {ShardKey(os.urandom(16), i): os.urandom(SHARD) for i in range(12)}
        for k, d in datas.items():
            await client.write_shard(k, 4, pieces_of(d))
        victim = list(datas)[3]
        await asyncio.to_thread(damage_first_copy, data_dir / "volumes", datas[victim][20_000:20_100])
        with pytest.raises(ShardCorrupt):  # reads verify on their own
            await read_all(client, victim)
        # A bound for a loaded machine, not a speed claim: the pass reads 12 shards at the paced rate.
        await asyncio.to_thread(
            wait_for, lambda: "1 finding(s)" in node.log_tail(2000), 120, "a scrub finding"
        )
        findings, _ = await client.scrub_findings()
        assert [(f.key, f.pg, f.kind) for f in findings] == [(victim, 4, FindingKind.CORRUPT)]
    finally:
        await client.close()
