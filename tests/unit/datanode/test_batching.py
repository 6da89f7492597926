"""Coalescing small shard calls to one node (datanode/batching.py) through the typed client,
over a real in-process gRPC server: calls that queue up while the node is busy go out as one
PutShards / ReadShards call, and every shard in it succeeds or fails on its own."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cairn import rpc
from cairn.datanode.client import DataNodeClient, DataNodeUnavailable, ShardConflict, ShardCorrupt, ShardKey
from cairn.datanode.errors import InvalidRange, ShardDeleted, ShardNotFound
from cairn.datanode.memory_store import MemoryShardStore
from cairn.datanode.rpc_server import DataNodeServicer
from cairn.datanode.shards import FailureDomain, WriteResult
from cairn.datanode.store import RangeRead

LABELS = FailureDomain("z", "r", "h")


class Gated(MemoryShardStore):
    """Writes and range reads wait for `release` (set from the start unless `gated`)."""

    def __init__(self, gated: bool = False) -> None:
        super().__init__()
        self.release = asyncio.Event()
        if not gated:
            self.release.set()
        self.waiting = 0
        self.read_calls = 0
        self.arrived = asyncio.Event()  # set whenever a call reaches the store

    async def until(self, condition: Any) -> None:
        async with asyncio.timeout(10):
            while not condition():
                self.arrived.clear()
                await self.arrived.wait()

    async def write_whole(self, *args: Any, **kwargs: Any) -> WriteResult:
        self.waiting += 1
        self.arrived.set()
        await self.release.wait()
        self.waiting -= 1
        return await super().write_whole(*args, **kwargs)

    async def read_ranges(self, reads: Any) -> list[RangeRead | Exception]:
        self.read_calls += 1
        self.arrived.set()
        await self.release.wait()
        return await super().read_ranges(reads)


@pytest.fixture
async def node() -> AsyncIterator[tuple[Gated, DataNodeClient]]:
    store = Gated(gated=True)
    server = rpc.server()
    DataNodeServicer(store, lambda: "node-1", LABELS).add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = DataNodeClient(f"127.0.0.1:{port}")
    yield store, client
    await client.close()
    await server.stop(None)


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_writes_queued_behind_busy_calls_go_as_one_batch_each_with_its_own_outcome(
    node: tuple[Gated, DataNodeClient],
) -> None:
    store, client = node
    first = [ShardKey(os.urandom(16), i) for i in range(2)]
    taken = ShardKey(os.urandom(16), 0)
    store.release.set()
    await client.write_shard(taken, 1, one(b"stored"))
    deleted = ShardKey(os.urandom(16), 0)
    await client.delete_shards([deleted])
    store.release.clear()
    sent, items = client.puts.batches, client.puts.items

    # two calls in flight (the client's limit), held by the node
    busy = [asyncio.create_task(client.write_shard(k, 1, one(b"first"))) for k in first]
    await store.until(lambda: store.waiting == 2)
    queued = {ShardKey(os.urandom(16), i): os.urandom(500) for i in range(10)}
    tasks = [asyncio.create_task(client.write_shard(k, 2, one(d))) for k, d in queued.items()]
    conflict = asyncio.create_task(client.write_shard(taken, 1, one(b"different")))
    dead = asyncio.create_task(client.write_shard(deleted, 1, one(b"late")))
    await asyncio.sleep(0.1)
    assert client.puts.batches == sent + 2  # the rest wait in the client
    store.release.set()
    infos = await asyncio.gather(*busy, *tasks)
    with pytest.raises(ShardConflict, match=f"^{client.addr}: "):
        await conflict
    with pytest.raises(ShardDeleted):
        await dead
    assert [i.length for i in infos] == [5, 5] + [500] * 10
    assert (client.puts.batches, client.puts.items) == (sent + 3, items + 14)  # 12 queued: one call
    for key, data in queued.items():
        assert b"".join([c async for c in client.read_shard(key)]) == data


async def test_reads_of_bounded_ranges_are_batched_and_fail_one_by_one(
    node: tuple[Gated, DataNodeClient],
) -> None:
    store, client = node
    store.release.set()
    datas = {ShardKey(os.urandom(16), i): os.urandom(3000) for i in range(6)}
    for key, data in datas.items():
        await client.write_shard(key, 1, one(data))
    bad = next(iter(datas))
    store.corrupt(bad)
    store.release.clear()

    async def read(key: ShardKey, offset: int, length: int) -> bytes:
        return b"".join([c async for c in client.read_shard(key, offset, length, timeout=10)])

    busy = [asyncio.create_task(read(k, 0, 10)) for k in list(datas)[1:3]]
    await store.until(lambda: store.read_calls == 2)
    good = {k: asyncio.create_task(read(k, 100, 5000)) for k in list(datas)[1:]}  # cut at the end
    missing = asyncio.create_task(read(ShardKey(os.urandom(16), 0), 0, 10))
    corrupt = asyncio.create_task(read(bad, 0, 10))
    past = asyncio.create_task(read(list(datas)[1], 3001, 10))
    await asyncio.sleep(0.1)
    store.release.set()
    assert [await t for t in busy] == [datas[k][:10] for k in list(datas)[1:3]]
    for key, task in good.items():
        assert await task == datas[key][100:]
    with pytest.raises(ShardNotFound):
        await missing
    with pytest.raises(ShardCorrupt):
        await corrupt
    with pytest.raises(InvalidRange):
        await past
    assert client.reads.batches == 3 and client.reads.items == 10
    damaged, tail = await client.read_ranges([(bad, 0, 1), (list(datas)[2], 2990, 100)])
    assert isinstance(damaged, ShardCorrupt) and tail == datas[list(datas)[2]][2990:]


async def test_a_write_whose_caller_went_away_before_its_batch_left_is_never_sent(
    node: tuple[Gated, DataNodeClient],
) -> None:
    store, client = node
    busy = [
        asyncio.create_task(client.write_shard(ShardKey(os.urandom(16), i), 1, one(b"x"))) for i in range(2)
    ]
    await store.until(lambda: store.waiting == 2)
    gone = ShardKey(os.urandom(16), 0)
    abandoned = asyncio.create_task(client.write_shard(gone, 1, one(b"never")))
    late = asyncio.create_task(client.write_shard(ShardKey(os.urandom(16), 0), 1, one(b"y"), timeout=0.3))
    await asyncio.sleep(0.05)
    abandoned.cancel()
    with pytest.raises(DataNodeUnavailable, match="no answer within"):  # its own deadline
        await late
    store.release.set()
    await asyncio.gather(*busy)
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    assert client.puts.items == 2  # neither the abandoned nor the timed-out write was sent
    [result] = await client.read_ranges([(gone, 0, 5)])
    assert isinstance(result, ShardNotFound)
