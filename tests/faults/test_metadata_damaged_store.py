"""A metadata replica killed with SIGKILL whose shard files are then lost or corrupted.

With its Raft state intact (a snapshot every 8 entries, and the log after it) the replica
moves the shard files aside, says so, and rebuilds them from the snapshot and the log: every acknowledged object reads back. Without Raft state it refuses to start,
exits with status 2 and says how to recover.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from pathlib import Path

from cairn.metadata.client import MetadataClient, ObjectAttrs
from tests.support.procs import ServiceProcess, free_port, wait_for

KEYS = [f"k{i}" for i in range(20)]


def _start(tmp_path: Path, port: int, n: int) -> ServiceProcess:
    config = tmp_path / "metadata.toml"  # snapshots every 8 entries: the rebuild restores one
    config.write_text("[raft]\nsnapshot_threshold = 8\nsnapshot_log_ratio = 0\n")
    args = ["--config", str(config), "--data-dir", str(tmp_path / "meta")]
    args += ["--port", str(port), "--shards", "4"]
    return ServiceProcess("cairn.metadata", args, tmp_path / f"metadata-{n}.log").start()


def _wait_serving(proc: ServiceProcess, port: int) -> None:
    wait_for(lambda: f"listening on 127.0.0.1:{port}" in proc.log_tail(), 60, "metadata startup line")


async def _fill(addr: str) -> None:
    async with MetadataClient(addr, deadline_s=30) as client:
        await client.create_bucket("bkt", "owner")
        for i, key in enumerate(KEYS):
            await client.put_object("bkt", key, ObjectAttrs(size=0, etag=f"{i:032x}"))


async def _all_readable(addr: str) -> None:
    async with MetadataClient(addr, deadline_s=30) as client:
        for i, key in enumerate(KEYS):
            assert (await client.get_object("bkt", key)).etag == f"{i:032x}", key


def _checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def test_damaged_shards_are_rebuilt_from_the_raft_log_or_refused(tmp_path: Path) -> None:
    port = free_port()
    addr = f"127.0.0.1:{port}"
    data = tmp_path / "meta"
    proc = _start(tmp_path, port, 0)
    try:
        _wait_serving(proc, port)
        asyncio.run(_fill(addr))
        # snapshots are written in the background now: the compaction follows the last PUT shortly
        wait_for(lambda: "compacted its log" in proc.log_tail(400), 30, "a snapshot and compaction")
        proc.kill9()

        # 1. An object shard file is lost.
        for suffix in ("", "-wal", "-shm"):
            (data / f"shard-001.sqlite{suffix}").unlink(missing_ok=True)
        proc = _start(tmp_path, port, 1)
        _wait_serving(proc, port)
        assert "shard-001.sqlite (missing)" in proc.log_tail(200)
        asyncio.run(_all_readable(addr))
        proc.kill9()

        # 2. The catalog is truncated to half its size.
        _checkpoint(data / "catalog.sqlite")
        os.truncate(data / "catalog.sqlite", os.path.getsize(data / "catalog.sqlite") // 2)
        proc = _start(tmp_path, port, 2)
        _wait_serving(proc, port)
        assert "catalog.sqlite (cannot be read: database disk image is malformed)" in proc.log_tail(200)
        asyncio.run(_all_readable(addr))
        assert len(list(data.glob("damaged-*"))) == 2
        proc.kill9()

        # 3. A shard file is corrupted and there is no Raft state to rebuild from.
        shutil.rmtree(data / "raft")
        _checkpoint(data / "shard-002.sqlite")
        os.truncate(data / "shard-002.sqlite", os.path.getsize(data / "shard-002.sqlite") // 2)
        proc = _start(tmp_path, port, 3)
        assert proc.proc is not None
        assert proc.proc.wait(timeout=60) == 2
        tail = proc.log_tail(200)
        assert "shard-002.sqlite (cannot be read" in tail and "will not serve" in tail
        assert "To recover, move" in tail
        assert (data / "shard-002.sqlite").exists()  # nothing was moved
    finally:
        proc.stop()
