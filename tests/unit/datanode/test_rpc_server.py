"""The servicer and the typed client over a real in-process gRPC server (in-memory store):
every domain error crosses the wire as its own client exception."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
import pytest

from cairn import rpc
from cairn.checksums import crc32c
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
from cairn.datanode.errors import (
    BadShardRequest,
    InvalidRange,
    LengthMismatch,
    NodeFull,
    PieceChecksumMismatch,
    ShardDeleted,
    StreamBroken,
    UpkeepUnavailable,
)
from cairn.datanode.memory_store import MemoryShardStore
from cairn.datanode.rpc_server import DataNodeServicer
from cairn.datanode.shards import FailureDomain, WriteResult
from cairn.proto import common_pb2, datanode_pb2

LABELS = FailureDomain("z", "r", "h")


@pytest.fixture
async def served() -> AsyncIterator[tuple[MemoryShardStore, DataNodeClient]]:
    store = MemoryShardStore(capacity_bytes=1_000_000, chunk_bytes=1000)
    server = rpc.server()
    DataNodeServicer(store, lambda: "node-1", LABELS).add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = DataNodeClient(f"127.0.0.1:{port}")
    yield store, client
    await client.close()
    await server.stop(None)


async def chunks(data: bytes, size: int = 3000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def read(client: DataNodeClient, key: ShardKey, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([c async for c in client.read_shard(key, offset, length, timeout=5)])


async def test_round_trip_and_error_mapping(served: tuple[MemoryShardStore, DataNodeClient]) -> None:
    store, client = served
    k, data = ShardKey(os.urandom(16), 2), os.urandom(10_000)
    info = await client.write_shard(k, 4, chunks(data))
    assert (info.length, info.pg, info.state) == (10_000, 4, "live")
    assert await read(client, k) == data
    assert await read(client, k, 2500, 3000) == data[2500:5500]
    assert (await client.stat()).node_id == "node-1"

    with pytest.raises(ShardConflict):
        await client.write_shard(k, 4, chunks(data[::-1]))
    with pytest.raises(InvalidRange):
        await read(client, k, 10_001)
    with pytest.raises(ShardNotFound, match=f"^{client.addr}: no shard "):  # names the node
        await read(client, ShardKey(os.urandom(16), 0))
    with pytest.raises(NodeFull):
        await client.write_shard(ShardKey(os.urandom(16), 0), 4, chunks(b"x" * 1_000_000))
    store.corrupt(k)
    with pytest.raises(ShardCorrupt):
        await read(client, k)
    assert await client.delete_shards([k]) == 1
    with pytest.raises(ShardDeleted) as deleted:
        await client.write_shard(k, 4, chunks(data))
    assert isinstance(deleted.value, ShardConflict)
    await store.close()
    with pytest.raises(DataNodeUnavailable):
        await client.list_shards(4)
    assert issubclass(DataNodeUnavailable, DataNodeError)


async def raw_write(
    client: DataNodeClient, key: ShardKey, *messages: datanode_pb2.WriteShardRequest
) -> Exception:
    """The node's refusal of a WriteShard stream made of `messages` after a header.

    The node may end the call while a send is still in flight; grpc's client then sometimes keeps a
    local INTERNAL ("Internal error from Core") instead of the node's status. That is the client
    library's race, not the node's answer, so such an attempt is sent again (a few times at most).
    """
    for _ in range(5):
        call = client._rpc().WriteShard(timeout=5)
        try:
            await call.write(
                datanode_pb2.WriteShardRequest(
                    header=datanode_pb2.WriteShardHeader(
                        key=common_pb2.ShardKey(blob_id=key.blob_id, index=key.index), pg=1
                    )
                )
            )
            for message in messages:
                await call.write(message)
            await call.done_writing()
        except (asyncio.InvalidStateError, grpc.aio.AioRpcError):
            pass  # the node ended the call early; its status (awaited below) says why
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        failed = caught.value
        if not (failed.code() == grpc.StatusCode.INTERNAL and "from Core" in (failed.details() or "")):
            return ERRORS.error_of(failed)
    raise AssertionError(f"grpc kept its local INTERNAL on every attempt: {failed.details()}")


def piece(data: bytes) -> datanode_pb2.WriteShardRequest:
    return datanode_pb2.WriteShardRequest(piece=datanode_pb2.ShardPiece(data=data, crc32c=crc32c(data)))


def trailer(length: int, crc: int) -> datanode_pb2.WriteShardRequest:
    return datanode_pb2.WriteShardRequest(trailer=datanode_pb2.WriteShardTrailer(length=length, crc32c=crc))


async def test_only_a_stream_ending_in_a_matching_trailer_is_stored(
    served: tuple[MemoryShardStore, DataNodeClient],
) -> None:
    store, client = served
    k = ShardKey(os.urandom(16), 0)
    assert isinstance(await raw_write(client, k, piece(b"abc")), StreamBroken)
    assert isinstance(
        await raw_write(client, k, piece(b"abc"), trailer(3, crc32c(b"abd"))), PieceChecksumMismatch
    )
    assert isinstance(await raw_write(client, k, piece(b"abc"), trailer(4, crc32c(b"abc"))), LengthMismatch)
    assert isinstance(
        await raw_write(client, k, piece(b"abc"), trailer(3, crc32c(b"abc")), piece(b"d")), BadShardRequest
    )
    bad_piece = datanode_pb2.WriteShardRequest(piece=datanode_pb2.ShardPiece(data=b"abc", crc32c=7))
    assert isinstance(
        await raw_write(client, k, bad_piece, trailer(3, crc32c(b"abc"))), PieceChecksumMismatch
    )
    assert (await store.stats()).live_shards == 0
    with pytest.raises(ShardNotFound):
        await read(client, k)


async def test_one_piece_shards_go_as_unary_put_and_map_errors_alike(
    served: tuple[MemoryShardStore, DataNodeClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, client = served
    calls: list[str] = []
    for name in ("write", "write_whole"):
        original = getattr(store, name)

        def counted(*args: object, _name: str = name, _original: object = original) -> object:
            calls.append(_name)
            return _original(*args)  # type: ignore[operator]

        monkeypatch.setattr(store, name, counted)
    k, data = ShardKey(os.urandom(16), 1), os.urandom(600)
    info = await client.write_shard(k, 3, chunks(data))  # one piece: PutShard
    assert (info.key, info.pg, info.length, info.crc32c) == (k, 3, 600, crc32c(data))
    assert await read(client, k) == data
    assert (await client.write_shard(k, 3, chunks(data))).length == 600  # idempotent
    with pytest.raises(ShardConflict):
        await client.write_shard(k, 3, chunks(data[::-1]))
    empty = ShardKey(os.urandom(16), 0)
    assert (await client.write_shard(empty, 3, chunks(b""))).length == 0
    assert calls == ["write_whole"] * 4
    two = ShardKey(os.urandom(16), 2)
    await client.write_shard(two, 3, chunks(data, 300))  # two pieces: a WriteShard stream
    assert calls[-1] == "write" and await read(client, two) == data
    await client.delete_shards([k])
    with pytest.raises(ShardDeleted):
        await client.write_shard(k, 3, chunks(data))


async def raw_put(client: DataNodeClient, request: datanode_pb2.PutShardRequest) -> Exception:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client._rpc().PutShard(request, timeout=5)
    return ERRORS.error_of(caught.value)


async def test_a_bad_put_stores_nothing(served: tuple[MemoryShardStore, DataNodeClient]) -> None:
    store, client = served
    k = ShardKey(os.urandom(16), 0)
    header = datanode_pb2.WriteShardHeader(key=common_pb2.ShardKey(blob_id=k.blob_id, index=k.index), pg=1)
    bad_crc = datanode_pb2.PutShardRequest(
        header=header, piece=datanode_pb2.ShardPiece(data=b"abc", crc32c=7)
    )
    assert isinstance(await raw_put(client, bad_crc), PieceChecksumMismatch)
    no_header = datanode_pb2.PutShardRequest(
        piece=datanode_pb2.ShardPiece(data=b"abc", crc32c=crc32c(b"abc"))
    )
    assert isinstance(await raw_put(client, no_header), BadShardRequest)
    short = datanode_pb2.WriteShardHeader(key=header.key, pg=1, expected_length=4)
    wrong_length = datanode_pb2.PutShardRequest(
        header=short, piece=datanode_pb2.ShardPiece(data=b"abc", crc32c=crc32c(b"abc"))
    )
    assert isinstance(await raw_put(client, wrong_length), LengthMismatch)
    bad_key = datanode_pb2.PutShardRequest(
        header=datanode_pb2.WriteShardHeader(key=common_pb2.ShardKey(blob_id=b"short", index=0), pg=1),
        piece=datanode_pb2.ShardPiece(data=b"abc", crc32c=crc32c(b"abc")),
    )
    assert isinstance(await raw_put(client, bad_key), BadShardRequest)
    assert (await store.stats()).live_shards == 0
    with pytest.raises(ShardNotFound):
        await read(client, k)


async def test_no_more_than_max_concurrent_writes_reach_the_store() -> None:
    """8 writes at once (streamed and unary) against a cap of 2: the store never sees more
    than 2 at a time, and every write still succeeds once the earlier ones finish."""
    active, most = 0, 0
    release, two_in = asyncio.Event(), asyncio.Event()

    class Gated(MemoryShardStore):
        async def _gate(self) -> None:
            nonlocal active, most
            active += 1
            most = max(most, active)
            if active == 2:
                two_in.set()
            try:
                await release.wait()
            finally:
                active -= 1

        async def write(self, *args: Any, **kwargs: Any) -> WriteResult:
            await self._gate()
            return await super().write(*args, **kwargs)

        async def write_whole(self, *args: Any, **kwargs: Any) -> WriteResult:
            await self._gate()
            return await super().write_whole(*args, **kwargs)

    store = Gated()
    server = rpc.server()
    DataNodeServicer(store, lambda: "node-1", LABELS, max_concurrent_writes=2).add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = DataNodeClient(f"127.0.0.1:{port}")
    try:
        datas = {ShardKey(os.urandom(16), i): os.urandom(10_000) for i in range(8)}
        streamed = [k for k in datas if k.index % 2 == 0]  # 3000-byte chunks: a stream; else one PutShard
        writes = [
            asyncio.create_task(
                client.write_shard(k, 1, chunks(d, 3000 if k in streamed else 10_000), timeout=10)
            )
            for k, d in datas.items()
        ]
        await asyncio.wait_for(two_in.wait(), 5)
        await asyncio.sleep(0.2)  # give any write past the cap time to arrive (it must not)
        assert (active, most) == (2, 2)
        release.set()
        await asyncio.wait_for(asyncio.gather(*writes), 10)
        assert most == 2
        for k, d in datas.items():
            assert await read(client, k) == d
    finally:
        await client.close()
        await server.stop(None)


async def test_a_stream_the_node_refuses_early_fails_with_the_nodes_error() -> None:
    """The node ends a WriteShard call right after its header (here: it is stopping) while the
    writer still has pieces to send. The writer gets the node's own error; it used to get a
    bare asyncio.InvalidStateError from grpc ("RPC already finished"), no DataNodeError at all."""
    refused = asyncio.Event()

    class Stopping(MemoryShardStore):
        async def write(self, *args: Any, **kwargs: Any) -> WriteResult:
            refused.set()
            raise DataNodeUnavailable("the data node is stopping")

    async def pieces() -> AsyncIterator[bytes]:
        yield b""  # two empty pieces: the client opens a stream and sends only its header
        yield b""
        await refused.wait()
        for _ in range(500):  # at most 5 s; the node's answer arrives long before
            await asyncio.sleep(0.01)
            yield os.urandom(1000)

    server = rpc.server()
    DataNodeServicer(Stopping(), lambda: "node-1", LABELS).add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = DataNodeClient(f"127.0.0.1:{port}")
    try:
        with pytest.raises(DataNodeUnavailable, match="the data node is stopping"):
            await client.write_shard(ShardKey(os.urandom(16), 0), 1, pieces(), timeout=10)
    finally:
        await client.close()
        await server.stop(None)


async def test_a_store_without_volume_files_has_no_compaction_or_scrub(
    served: tuple[MemoryShardStore, DataNodeClient],
) -> None:
    _, client = served
    with pytest.raises(UpkeepUnavailable, match="no compaction"):
        await client.compaction_status()
    with pytest.raises(UpkeepUnavailable, match="no scrub"):
        await client.scrub_start()
