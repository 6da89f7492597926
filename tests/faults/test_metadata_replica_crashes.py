"""Three metadata replica processes under a mixed workload, one killed with SIGKILL at a random
moment each round and restarted: afterwards every replica's shards hold identical contents
(a canonical dump of every table, the applied index included), and every acknowledged PUT is
readable. Shards run synchronous=NORMAL; what a killed replica's shards miss comes back from
its Raft log. The workers' concurrent calls reach the leader batched, so that log holds group
entries (several commands in one entry): the test checks that the logs the killed replicas
restart on have some."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path

import pytest

from cairn.blobs import BlobRef
from cairn.metadata.client import MetadataClient, MetadataError, ObjectAttrs, VersioningState
from cairn.raft.messages import Entry
from cairn.raft.wal import scan_records
from tests.support.procs import ServiceProcess, free_port, wait_for

ROUNDS = 6
SHARDS = 4


def group_entries(raft_dir: Path) -> int:
    """The group entries (metadata/replicated.py `encode_group`) in a replica's Raft log file."""
    records, _ = scan_records((raft_dir / "raft.wal").read_bytes())
    return sum(isinstance(r, Entry) and r.data.startswith(b"group\n") for r in records)


def dump(data_dir: Path) -> list[str]:
    out = []
    for name in ["catalog.sqlite", *(f"shard-{i:03d}.sqlite" for i in range(SHARDS))]:
        conn = sqlite3.connect(data_dir / name)
        try:
            out.append("\n".join(conn.iterdump()))
        finally:
            conn.close()
    return out


@pytest.mark.slow
def test_replicas_killed_at_random_moments_end_identical(tmp_path: Path) -> None:
    ids = ["m1", "m2", "m3"]
    ports = {i: free_port() for i in ids}
    peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in ports.items())
    addrs = ",".join(f"127.0.0.1:{p}" for p in ports.values())
    procs: dict[str, ServiceProcess] = {}

    def start(i: str) -> None:
        args = ["--id", i, "--peers", peers, "--data-dir", str(tmp_path / i), "--shards", str(SHARDS)]
        procs[i] = ServiceProcess("cairn.metadata", args, tmp_path / f"{i}-{time.monotonic_ns()}.log").start()
        wait_for(lambda: "metadata listening" in procs[i].log_tail(), 30, f"replica {i} to start")

    rng = random.Random(9)
    acked: dict[str, str] = {}
    groups = 0  # in the logs the killed replicas restarted on

    async def workload(client: MetadataClient, n: int, stop: asyncio.Event) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            key = f"w{n}/k{i % 7}"
            blob = rng.randbytes(16)
            try:
                if i % 5 == 0:
                    await client.delete_object("bkt", key)
                    acked.pop(key, None)
                else:
                    await client.record_write_intent("bkt", key, blob, 1)
                    etag = blob.hex()
                    ref = BlobRef(blob, 1, 1, 1 << 20, 8, 4)
                    await client.put_object("bkt", key, ObjectAttrs(size=1, etag=etag, blobs=(ref,)))
                    acked[key] = etag
            except MetadataError:
                acked.pop(key, None)  # outcome unknown: not checked

    async def run() -> None:
        nonlocal groups
        client = MetadataClient(addrs, deadline_s=15.0)
        try:
            await client.create_bucket("bkt", "owner")
            await client.set_bucket_versioning("bkt", VersioningState.ENABLED)
            for _ in range(ROUNDS):
                stop = asyncio.Event()
                tasks = [asyncio.create_task(workload(client, n, stop)) for n in range(6)]
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                victim = rng.choice(ids)
                procs[victim].kill9()
                await asyncio.sleep(rng.uniform(0.2, 1.0))
                stop.set()
                await asyncio.gather(*tasks)
                groups += group_entries(tmp_path / victim / "raft")
                await asyncio.to_thread(start, victim)
            await client.put_object("bkt", "last", ObjectAttrs(size=0, etag="x"))
            for key, etag in acked.items():
                assert (await client.get_object("bkt", key)).etag == etag, key
        finally:
            await client.close()

    async def caught_up() -> None:
        """Until every replica applied everything the leader committed (heartbeats carry it)."""
        clients = [MetadataClient(f"127.0.0.1:{p}", deadline_s=5.0) for p in ports.values()]
        try:
            deadline = time.monotonic() + 60
            while True:
                states = [await c.replica_status() for c in clients]
                commit = max(s.commit_index for s in states)
                if all(s.applied_index == commit for s in states) or time.monotonic() > deadline:
                    assert all(s.applied_index == commit for s in states), states
                    return
                await asyncio.sleep(0.2)
        finally:
            for c in clients:
                await c.close()

    for i in ids:
        start(i)
    try:
        asyncio.run(run())
        asyncio.run(caught_up())
    finally:
        for proc in procs.values():
            proc.stop()
    dumps = {i: dump(tmp_path / i) for i in ids}
    assert dumps["m1"] == dumps["m2"] == dumps["m3"]
    assert groups > 0, "no group entry in the logs the killed replicas restarted on"
    versions = sum(d.count('INSERT INTO "versions"') for d in dumps["m1"])
    assert versions >= 50, f"too little load went through ({versions} versions)"
