"""A metadata follower that was down while the group applied many commands and compacted its
log past what the follower holds catches up by an InstallSnapshot (the leader's snapshot
files, streamed from disk in many chunks: 64 KiB here) plus the log after it, on three real
replica processes (a snapshot every 10 log entries: the leader puts the PUTs of one batched call,
up to 32 here, in one entry). Afterwards the three replicas' shards are
identical (canonical dump of every table) and every acknowledged object reads back from the
group. In the second run the follower is killed (-9) while the transfer is under way: the
partial transfer is discarded when it restarts, and it catches up by a whole new one."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from cairn.metadata.client import MetadataClient, MetadataError, ObjectAttrs
from cairn.raft.wal import decode_snapshot
from tests.faults.test_metadata_replica_crashes import dump
from tests.support.procs import ServiceProcess, free_port, wait_for

SHARDS = 4  # what `dump` reads
OBJECTS = 1200
CHUNK = 64 << 10
IDS = ["m1", "m2", "m3"]


def transferring(raft_dir: Path) -> bool:
    """Whether a snapshot transfer (or build) is under way: a `tmp-` directory with a file."""
    try:
        return any(e.name.startswith("tmp-") and os.listdir(e.path) for e in os.scandir(raft_dir))
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["none", "follower", "leader"])
def test_a_follower_down_during_many_commands_catches_up_by_snapshot_and_log(
    tmp_path: Path, kill: str
) -> None:
    """`kill`: nobody, the receiving follower, or the sending leader is killed (-9) mid-transfer."""
    ports = {i: free_port() for i in IDS}
    peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in ports.items())
    addrs = ",".join(f"127.0.0.1:{p}" for p in ports.values())
    config = tmp_path / "metadata.toml"
    config.write_text(
        f"[raft]\nsnapshot_threshold = 10\nsnapshot_log_ratio = 0\nsnapshot_chunk_bytes = {CHUNK}\n"
    )
    procs: dict[str, ServiceProcess] = {}

    def start(i: str, n: int = 0, wait: bool = True) -> None:
        args = ["--config", str(config), "--id", i, "--peers", peers]
        args += ["--data-dir", str(tmp_path / i), "--shards", str(SHARDS), "--port", str(ports[i])]
        procs[i] = ServiceProcess("cairn.metadata", args, tmp_path / f"{i}-{n}.log").start()
        if wait:
            wait_for(lambda: "metadata listening" in procs[i].log_tail(), 60, f"replica {i} to start")

    async def status(i: str) -> tuple[str, int, int]:
        async with MetadataClient(f"127.0.0.1:{ports[i]}", deadline_s=5.0) as client:
            s = await client.replica_status()
            return s.role, s.commit_index, s.applied_index

    async def leader() -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for i in IDS:
                if procs[i].alive() and (await status(i))[0] == "leader":
                    return i
            await asyncio.sleep(0.2)
        raise AssertionError("no metadata leader")

    acked: dict[str, str] = {}
    padding = (("pad", "x" * 1500),)  # about 2 KB a version: the state outgrows many chunks

    async def load(client: MetadataClient, first: int, count: int) -> None:
        async def one(n: int) -> None:
            key = f"obj{n:05d}"
            try:
                await client.put_object(
                    "bkt", key, ObjectAttrs(size=n, etag=f"{n:032x}", user_metadata=padding)
                )
                acked[key] = f"{n:032x}"
            except MetadataError:
                pass  # outcome unknown: not checked

        for start_at in range(first, first + count, 32):
            await asyncio.gather(*(one(n) for n in range(start_at, min(first + count, start_at + 32))))

    for i in IDS:
        start(i)
    try:

        async def run() -> None:
            async with MetadataClient(addrs, deadline_s=30.0) as client:
                await client.create_bucket("bkt", "owner")
                await load(client, 0, 50)
                lead = await leader()
                victim = next(i for i in IDS if i != lead)
                _, _, victim_applied = await status(victim)
                procs[victim].kill9()
                await load(client, 50, OBJECTS)
                # the leader's log no longer holds what the follower needs next
                snap = decode_snapshot((tmp_path / lead / "raft" / "snapshot").read_bytes())
                assert snap.index > victim_applied + 1, (snap.index, victim_applied)
                assert [f.name for f in snap.files] == ["catalog.sqlite"] + [
                    f"shard-{n:03d}.sqlite" for n in range(SHARDS)
                ]
                assert sum(f.size for f in snap.files) > 8 * CHUNK, snap.files
                if kill == "none":
                    start(victim, 1)
                else:
                    start(victim, 1, wait=False)
                    raft_dir = tmp_path / victim / "raft"
                    wait_for(lambda: transferring(raft_dir), 60, "the snapshot transfer", interval=0.001)
                    procs[victim if kill == "follower" else lead].kill9()  # files are arriving
                    assert "installed a snapshot" not in procs[victim].log_tail(400)
                    if kill == "follower":
                        assert any(p.name.startswith("tmp-") for p in raft_dir.iterdir())
                        start(victim, 2)
                        tail = procs[victim].log_tail(400)
                        assert "deleted partial or superseded snapshot directories" in tail
                    else:  # the other follower takes over and sends its own snapshot
                        wait_for(lambda: "metadata listening" in procs[victim].log_tail(), 60, "the victim")
                        start(lead, 1)
                        lead = await leader()
                deadline = time.monotonic() + 90
                while True:
                    _, commit, _ = await status(lead)
                    _, _, applied = await status(victim)
                    if applied >= commit or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.3)
                assert applied >= commit, (applied, commit)
                assert "installed a snapshot" in procs[victim].log_tail(400)
                for key, etag in acked.items():
                    assert (await client.get_object("bkt", key)).etag == etag, key

        asyncio.run(run())

        async def caught_up() -> None:
            deadline = time.monotonic() + 60
            while True:
                states = [await status(i) for i in IDS]
                commit = max(s[1] for s in states)
                if all(s[2] == commit for s in states) or time.monotonic() > deadline:
                    assert all(s[2] == commit for s in states), states
                    return
                await asyncio.sleep(0.2)

        asyncio.run(caught_up())
    finally:
        for proc in procs.values():
            proc.stop()
    dumps = {i: dump(tmp_path / i) for i in IDS}
    assert dumps["m1"] == dumps["m2"] == dumps["m3"]
    assert sum(d.count('INSERT INTO "versions"') for d in dumps["m1"]) >= OBJECTS // 2
