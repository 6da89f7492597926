"""Data node faults on real processes: SIGTERM during writes, bytes damaged on disk under a
running node, and an index lost between restarts."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from cairn.datanode.client import DataNodeClient, DataNodeError, ShardCorrupt, ShardKey, ShardNotFound
from tests.integration.test_datanode import pieces_of, read_all, ready_client, start_node
from tests.support.procs import ServiceProcess, free_port


def damage_first_copy(volumes: Path, needle: bytes) -> None:
    """Flip one byte inside the first on-disk copy of `needle` (a payload)."""
    for path in sorted(volumes.glob("*.cvol")):
        raw = bytearray(path.read_bytes())
        at = raw.find(needle)
        if at >= 0:
            raw[at + len(needle) // 2] ^= 0x40
            os.chmod(path, 0o644)
            path.write_bytes(bytes(raw))
            return
    raise AssertionError("payload not found on disk")


def remove_index(data_dir: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data_dir / 'index.db'}{suffix}").unlink(missing_ok=True)


async def test_sigterm_drains_in_flight_writes_and_loses_no_acknowledged_shard(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    port, data_dir = free_port(), tmp_path / "node"
    node = start_node(data_dir, port, processes)
    client = DataNodeClient(f"127.0.0.1:{port}")
    acked: dict[ShardKey, bytes] = {}
    refused: list[DataNodeError] = []
    enough = asyncio.Event()

    async def writer(w: int) -> None:
        for i in range(300):
            k, data = ShardKey(os.urandom(16), w), os.urandom(20_000 + i)
            try:
                await client.write_shard(k, w, pieces_of(data, 8_000), timeout=5)
            except DataNodeError as exc:
                refused.append(exc)
                return
            acked[k] = data
            if len(acked) >= 40:
                enough.set()

    async def terminator() -> None:
        await enough.wait()
        os.kill(node.pid, signal.SIGTERM)

    try:
        await asyncio.wait_for(asyncio.gather(terminator(), *(writer(w) for w in range(6))), timeout=30)
    finally:
        await client.close()
    assert await asyncio.to_thread(node.proc.wait, 15) == 0  # type: ignore[union-attr]
    assert "datanode stopped" in node.log_tail(20)
    assert len(refused) == 6  # every writer was eventually turned away, none hung

    start_node(data_dir, port, processes)
    client = await ready_client(port)
    try:
        for k, data in acked.items():
            assert await read_all(client, k) == data
    finally:
        await client.close()


async def test_damage_under_a_running_node_reads_as_corrupt(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    port, data_dir = free_port(), tmp_path / "node"
    start_node(data_dir, port, processes)
    client = await ready_client(port)
    try:
        bad, good = ShardKey(os.urandom(16), 0), ShardKey(os.urandom(16), 1)
        bad_data, good_data = os.urandom(100_000), os.urandom(100_000)
        await client.write_shard(bad, 1, pieces_of(bad_data))
        await client.write_shard(good, 1, pieces_of(good_data))
        await asyncio.to_thread(damage_first_copy, data_dir / "volumes", bad_data[80_000:81_000])
        with pytest.raises(ShardCorrupt):
            await read_all(client, bad)
        assert await read_all(client, bad, 0, 65_536) == bad_data[:65_536]  # other block is fine
        assert await read_all(client, good) == good_data
        await client.write_shard(bad, 1, pieces_of(bad_data))  # repair: a fresh good copy
        assert await read_all(client, bad) == bad_data
    finally:
        await client.close()


async def test_an_index_lost_while_stopped_is_rebuilt(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    port, data_dir = free_port(), tmp_path / "node"
    node = start_node(data_dir, port, processes)
    client = DataNodeClient(f"127.0.0.1:{port}")
    datas = {ShardKey(os.urandom(16), i): os.urandom(90_000) for i in range(8)}
    try:
        for k, d in datas.items():
            await client.write_shard(k, 2, pieces_of(d))
        gone = list(datas)[:2]
        assert await client.delete_shards(gone) == 2
    finally:
        await client.close()
    await asyncio.to_thread(node.stop)
    await asyncio.to_thread(remove_index, data_dir)

    start_node(data_dir, port, processes)
    client = await ready_client(port)
    try:
        for k, d in datas.items():
            if k in gone:
                with pytest.raises(ShardNotFound):
                    await read_all(client, k)
            else:
                assert await read_all(client, k) == d
        assert (await client.stat()).live_shards == 6
    finally:
        await client.close()
