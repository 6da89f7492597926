"""A real data node process driven through DataNodeClient: writes, reads, ranges, deletes,
listing, stat, bad input; and kill -9 during concurrent writes followed by a restart."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from cairn.datanode.client import (
    ERRORS,
    DataNodeClient,
    DataNodeError,
    DataNodeUnavailable,
    ShardConflict,
    ShardCorrupt,
    ShardKey,
    ShardNotFound,
)
from cairn.datanode.errors import PieceChecksumMismatch
from cairn.proto import datanode_pb2
from tests.support.procs import ServiceProcess, free_port, wait_for


def start_node(data_dir: Path, port: int, processes: list[ServiceProcess], *extra: str) -> ServiceProcess:
    log = data_dir.parent / f"datanode-{port}-{len(processes)}.log"  # one log per start
    proc = ServiceProcess(
        "cairn.datanode",
        [
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--zone",
            "z1",
            "--rack",
            "r1",
            "--node-host",
            "h1",
            "--capacity",
            str(1 << 30),
            *extra,
        ],
        log,
        env={
            "CAIRN_DATANODE_STORAGE_VOLUME_SIZE_LIMIT_BYTES": str(256 * 1024),
            "CAIRN_DATANODE_STORAGE_WRITER_LANES": "2",
        },
    ).start()
    processes.append(proc)
    listening = f"datanode listening on 127.0.0.1:{port}"
    wait_for(lambda: listening in proc.log_tail(200) or not proc.alive(), 20, "the data node to listen")
    assert proc.alive(), proc.log_tail()
    return proc


async def ready_client(port: int, within: float = 15.0) -> DataNodeClient:
    """A client to a (re)started node, once it answers. A restarted node's address may sit in
    gRPC's shared reconnect backoff for a moment after the old process died."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        client = DataNodeClient(f"127.0.0.1:{port}")
        try:
            await client.stat(timeout=1.0)
            return client
        except DataNodeUnavailable:
            await client.close()
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def pieces_of(data: bytes, size: int = 40_000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def read_all(
    client: DataNodeClient, key: ShardKey, offset: int = 0, length: int | None = None
) -> bytes:
    return b"".join([c async for c in client.read_shard(key, offset, length)])


def key(n: int = 0) -> ShardKey:
    return ShardKey(os.urandom(16), n)


async def test_shard_lifecycle_through_the_client(tmp_path: Path, processes: list[ServiceProcess]) -> None:
    port = free_port()
    start_node(tmp_path / "node", port, processes)
    client = DataNodeClient(f"127.0.0.1:{port}")
    try:
        data = os.urandom(300_000)
        k = key(3)
        info = await client.write_shard(k, 7, pieces_of(data))
        assert (info.key, info.pg, info.length, info.state) == (k, 7, len(data), "live")
        assert await read_all(client, k) == data
        assert await read_all(client, k, 65_000, 70_000) == data[65_000:135_000]
        assert await read_all(client, k, 299_990) == data[299_990:]
        assert await read_all(client, k, len(data)) == b""

        # idempotent rewrite; a different payload under the same key is a conflict
        assert (await client.write_shard(k, 7, pieces_of(data, 99_999))).crc32c == info.crc32c
        with pytest.raises(ShardConflict):
            await client.write_shard(k, 7, pieces_of(data[:-1] + b"\0"))

        # listing with keyset pagination
        others = sorted([key(i) for i in range(5)])
        for other in others:
            await client.write_shard(other, 9, pieces_of(b"x" * 100))
        page, cursor = await client.list_shards(9, limit=2)
        seen = [s.key for s in page]
        while cursor is not None:
            page, cursor = await client.list_shards(9, after=cursor, limit=2)
            seen += [s.key for s in page]
        assert seen == others

        stat = await client.stat()
        assert (stat.live_shards, stat.state, stat.node_id) == (6, "up", None)
        assert stat.capacity_bytes == 1 << 30 and stat.used_bytes > len(data)

        assert await client.delete_shards([k, k, key()]) == 1
        with pytest.raises(ShardNotFound):
            await read_all(client, k)
        with pytest.raises(ShardNotFound):
            await read_all(client, key())
        assert (await client.list_shards(7))[0][0].state == "dead"
        assert (await client.stat()).live_shards == 5
    finally:
        await client.close()


async def test_bad_pieces_and_broken_streams_store_nothing(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    port = free_port()
    start_node(tmp_path / "node", port, processes)
    client = DataNodeClient(f"127.0.0.1:{port}")
    try:
        # A piece whose crc32c is wrong (sent with the raw stub, as a buggy peer would).
        k = key()
        stub = client._rpc()
        call = stub.WriteShard(timeout=10)
        await call.write(
            datanode_pb2.WriteShardRequest(
                header=datanode_pb2.WriteShardHeader(key={"blob_id": k.blob_id, "index": 0}, pg=1)
            )
        )
        await call.write(datanode_pb2.WriteShardRequest(piece=datanode_pb2.ShardPiece(data=b"abc", crc32c=1)))
        await call.done_writing()
        with pytest.raises(PieceChecksumMismatch) as caught, ERRORS.translated():
            await call
        assert isinstance(caught.value, ShardCorrupt)
        with pytest.raises(ShardNotFound):
            await read_all(client, k)

        # A stream the writer abandons half-way stores nothing.
        async def broken() -> AsyncIterator[bytes]:
            yield b"a" * 1000
            raise RuntimeError("writer crashed")

        with pytest.raises(RuntimeError):
            await client.write_shard(k, 1, broken())
        assert (await client.list_shards(1))[0] == []
        with pytest.raises(ShardNotFound):
            await read_all(client, k)
        assert (await client.stat()).live_shards == 0
    finally:
        await client.close()


async def test_unreachable_node_is_unavailable() -> None:
    client = DataNodeClient(f"127.0.0.1:{free_port()}")
    try:
        with pytest.raises(DataNodeUnavailable):
            await client.stat(timeout=1.0)
    finally:
        await client.close()


async def whole(data: bytes) -> AsyncIterator[bytes]:
    yield data  # one piece: the client sends it as one unary PutShard


async def streamed(data: bytes, size: int = 30_000) -> AsyncIterator[bytes]:
    yield b""  # a second piece follows, so the client opens a WriteShard stream
    async for piece in pieces_of(data, size):
        yield piece


async def test_unary_puts_through_a_real_node(tmp_path: Path, processes: list[ServiceProcess]) -> None:
    port = free_port()
    start_node(tmp_path / "node", port, processes)
    client = DataNodeClient(f"127.0.0.1:{port}")
    try:
        small, large = os.urandom(600), os.urandom(200_000)
        k1, k2 = key(1), key(2)
        assert (await client.write_shard(k1, 4, whole(small))).length == 600
        assert (await client.write_shard(k2, 4, whole(large))).length == 200_000
        assert await read_all(client, k1) == small and await read_all(client, k2) == large
        assert await read_all(client, k2, 70_000, 10) == large[70_000:70_010]
        # idempotent across the two paths; other bytes are a conflict on either path
        assert (await client.write_shard(k1, 4, streamed(small))).crc32c == (
            await client.write_shard(k1, 4, whole(small))
        ).crc32c
        with pytest.raises(ShardConflict):
            await client.write_shard(k1, 4, whole(small[::-1]))
        with pytest.raises(ShardConflict):
            await client.write_shard(k2, 4, whole(large + b"!"))

        # a bad checksum (raw stub, as a buggy peer would send it) stores nothing
        bad = key(3)
        with pytest.raises(PieceChecksumMismatch), ERRORS.translated():
            await client._rpc().PutShard(
                datanode_pb2.PutShardRequest(
                    header=datanode_pb2.WriteShardHeader(key={"blob_id": bad.blob_id, "index": 3}, pg=4),
                    piece=datanode_pb2.ShardPiece(data=b"abc", crc32c=1),
                ),
                timeout=10,
            )
        with pytest.raises(ShardNotFound):
            await read_all(client, bad)

        assert await client.delete_shards([k1]) == 1
        with pytest.raises(ShardConflict):  # ShardDeleted: never resurrected
            await client.write_shard(k1, 4, whole(small))
        assert [(s.key, s.state) for s in (await client.list_shards(4))[0]] == sorted(
            [(k1, "dead"), (k2, "live")]
        )
    finally:
        await client.close()


@pytest.mark.parametrize("send", [whole, streamed], ids=["unary", "stream"])
async def test_kill9_during_writes_then_restart_keeps_every_acknowledged_shard(
    tmp_path: Path, processes: list[ServiceProcess], send: Callable[[bytes], AsyncIterator[bytes]]
) -> None:
    port = free_port()
    data_dir = tmp_path / "node"
    node = start_node(data_dir, port, processes)
    rng = random.Random(7)
    acked: dict[ShardKey, bytes] = {}
    attempted: dict[ShardKey, bytes] = {}
    client = DataNodeClient(f"127.0.0.1:{port}")
    enough = asyncio.Event()

    async def writer(w: int) -> None:
        for _ in range(200):
            k = key(w)
            data = rng.randbytes(rng.choice([1, 5_000, 70_000, 150_000]))
            attempted[k] = data
            try:
                await client.write_shard(k, w, send(data), timeout=5)
            except DataNodeError:
                return
            acked[k] = data
            if len(acked) >= 60:
                enough.set()

    async def killer() -> None:
        await enough.wait()
        node.kill9()  # while the other writers' streams and batches are in flight

    try:
        await asyncio.wait_for(asyncio.gather(killer(), *(writer(w) for w in range(8))), timeout=60)
    finally:
        await client.close()
    assert not node.alive() and len(acked) >= 60

    start_node(data_dir, port, processes)
    client = await ready_client(port)
    try:
        for k, data in acked.items():
            assert await read_all(client, k) == data
        for k, data in attempted.items():
            if k in acked:
                continue
            try:
                assert await read_all(client, k) == data  # whole or absent, never partial
            except ShardNotFound:
                pass
        stat = await client.stat()
        assert len(acked) <= stat.live_shards <= len(attempted)
    finally:
        await client.close()
