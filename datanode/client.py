"""The typed async client of one data node, and the RPC edge its servicer shares.

The contract is `proto/datanode.proto` (service `cairn.datanode.v1.DataNode`). Callers see
dataclasses and enums (`ShardKey`, `ShardInfo`, `NodeStat`, `ShardState`, `NodeState`) and
`DataNodeError` subclasses, never protobuf or grpc types. Every call carries a deadline.
`write_shard` sends a shard that turns out to be one piece as a unary PutShard, anything else
as a WriteShard stream. Every piece is sent with its CRC32C and every piece received is
checked against its CRC32C; a read stream that ends short, out of order or with a bad piece
raises `ShardCorrupt`. An error names the node's address first in its message.

Both sides of the wire use what is defined once here: `ERRORS`, the one `cairn.rpc.ErrorTable`
of the service (domain error class -> status code; the class name travels as the reason), and
the conversions between messages and dataclasses (`*_to_pb` / `*_from_pb`). The servicer
(`rpc_server.py`) imports them; no other module touches the generated stubs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence

import grpc
import grpc.aio

from cairn import rpc
from cairn.checksums import crc32c
from cairn.datanode.errors import (
    BadShardRequest,
    DataNodeError,
    DataNodeUnavailable,
    NodeFull,
    ShardConflict,
    ShardCorrupt,
    ShardNotFound,
)
from cairn.datanode.shards import FailureDomain, NodeStat, NodeState, ShardInfo, ShardKey, ShardState
from cairn.proto import common_pb2, datanode_pb2, datanode_pb2_grpc

__all__ = [
    "DataNodeClient",
    "DataNodeError",
    "DataNodeUnavailable",
    "FailureDomain",
    "NodeStat",
    "NodeState",
    "ShardConflict",
    "ShardCorrupt",
    "ShardInfo",
    "ShardKey",
    "ShardNotFound",
    "ShardState",
]

#: Pieces larger than this are split before sending (gRPC messages stay small).
MAX_PIECE_BYTES = 4 << 20
#: A shard that turns out to be one piece of at most this size goes as one unary PutShard call
#: instead of a WriteShard stream (one message instead of header, piece, trailer, half-close).
MAX_UNARY_BYTES = 4 << 20

#: The data node's errors at the RPC edge. A call the node never answered (unreachable,
#: deadline, cancelled, shedding load) is `DataNodeUnavailable`; anything else unexpected,
#: including a server bug, is the base `DataNodeError`.
ERRORS = rpc.ErrorTable(
    {
        ShardNotFound: grpc.StatusCode.NOT_FOUND,
        ShardCorrupt: grpc.StatusCode.DATA_LOSS,
        ShardConflict: grpc.StatusCode.FAILED_PRECONDITION,
        BadShardRequest: grpc.StatusCode.INVALID_ARGUMENT,
        NodeFull: grpc.StatusCode.RESOURCE_EXHAUSTED,
        DataNodeUnavailable: grpc.StatusCode.UNAVAILABLE,
    },
    unavailable=DataNodeUnavailable,
    internal=DataNodeError,
)

# -- messages <-> dataclasses (both directions, used by the client and the servicer) ------------

_STATE_TO_PB = {
    ShardState.LIVE: datanode_pb2.SHARD_STATE_LIVE,
    ShardState.DEAD: datanode_pb2.SHARD_STATE_DEAD,
}
_STATE_FROM_PB = {number: state for state, number in _STATE_TO_PB.items()}


def key_to_pb(key: ShardKey) -> common_pb2.ShardKey:
    return common_pb2.ShardKey(blob_id=key.blob_id, index=key.index)


def key_from_pb(msg: common_pb2.ShardKey) -> ShardKey:
    """The key a message names; `BadShardRequest` if it is not a valid key."""
    try:
        return ShardKey(bytes(msg.blob_id), msg.index)
    except ValueError as exc:
        raise BadShardRequest(str(exc)) from exc


def info_to_pb(info: ShardInfo) -> datanode_pb2.ShardInfo:
    return datanode_pb2.ShardInfo(
        key=key_to_pb(info.key),
        pg=info.pg,
        length=info.length,
        crc32c=info.crc32c,
        state=_STATE_TO_PB[info.state],
    )


def info_from_pb(msg: datanode_pb2.ShardInfo) -> ShardInfo:
    state = _STATE_FROM_PB.get(msg.state)
    if state is None:
        raise DataNodeError(f"shard {key_from_pb(msg.key)} has no known state ({msg.state})")
    return ShardInfo(key_from_pb(msg.key), msg.pg, msg.length, msg.crc32c, state)


def stat_to_pb(stat: NodeStat) -> datanode_pb2.StatResponse:
    labels = stat.labels
    reply = datanode_pb2.StatResponse(
        capacity_bytes=stat.capacity_bytes,
        used_bytes=stat.used_bytes,
        live_shards=stat.live_shards,
        state=stat.state,
        dead_shards=stat.dead_shards,
        labels=common_pb2.FailureDomain(zone=labels.zone, rack=labels.rack, host=labels.host),
        volumes=stat.volumes,
        sealed_volumes=stat.sealed_volumes,
    )
    if stat.node_id is not None:
        reply.node_id = stat.node_id
    return reply


def stat_from_pb(msg: datanode_pb2.StatResponse) -> NodeStat:
    try:
        state = NodeState(msg.state)
    except ValueError:
        raise DataNodeError(f"the node reports an unknown state {msg.state!r}") from None
    return NodeStat(
        node_id=msg.node_id if msg.HasField("node_id") else None,
        capacity_bytes=msg.capacity_bytes,
        used_bytes=msg.used_bytes,
        live_shards=msg.live_shards,
        state=state,
        dead_shards=msg.dead_shards,
        volumes=msg.volumes,
        sealed_volumes=msg.sealed_volumes,
        labels=FailureDomain(msg.labels.zone, msg.labels.rack, msg.labels.host),
    )


def header_to_pb(key: ShardKey, pg: int) -> datanode_pb2.WriteShardHeader:
    return datanode_pb2.WriteShardHeader(key=key_to_pb(key), pg=pg)


def piece_to_pb(data: bytes) -> datanode_pb2.ShardPiece:
    return datanode_pb2.ShardPiece(data=data, crc32c=crc32c(data))


# -- the client ----------------------------------------------------------------------------------


async def _chain(first: bytes, second: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    if second is not None:
        yield second
        async for piece in rest:
            yield piece


class DataNodeClient:
    """Calls one data node at `addr` ("host:port"). The channel opens on first use."""

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self._channel: grpc.aio.Channel | None = None
        self._stub: datanode_pb2_grpc.DataNodeAsyncStub | None = None

    def _rpc(self) -> datanode_pb2_grpc.DataNodeAsyncStub:
        if self._stub is None:
            self._channel = rpc.channel(self.addr)
            self._stub = datanode_pb2_grpc.DataNodeStub(self._channel)
        return self._stub

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """`ERRORS.translated()`, with this node's address leading the error's message."""
        try:
            with ERRORS.translated():
                yield
        except DataNodeError as exc:
            raise type(exc)(f"{self.addr}: {exc}") from None

    async def write_shard(
        self, key: ShardKey, pg: int, pieces: AsyncIterable[bytes], timeout: float = 60.0
    ) -> ShardInfo:
        """Send a shard; returns once its bytes and index row are durable (idempotent).

        Looks one piece ahead: a shard that is a single piece of at most MAX_UNARY_BYTES (or
        empty) goes as one unary PutShard call, anything else as a WriteShard stream.
        """
        it = aiter(pieces)
        first = await anext(it, None)
        second = await anext(it, None) if first is not None else None
        if first is None or (second is None and len(first) <= MAX_UNARY_BYTES):
            return await self._put(key, pg, bytes(first or b""), timeout)
        return await self._stream(key, pg, _chain(first, second, it), timeout)

    async def _put(self, key: ShardKey, pg: int, data: bytes, timeout: float) -> ShardInfo:
        request = datanode_pb2.PutShardRequest(header=header_to_pb(key, pg), piece=piece_to_pb(data))
        with self._translated():
            reply = await self._rpc().PutShard(request, timeout=timeout)
            return info_from_pb(reply.shard)

    async def _stream(
        self, key: ShardKey, pg: int, pieces: AsyncIterable[bytes], timeout: float
    ) -> ShardInfo:
        call = self._rpc().WriteShard(timeout=timeout)
        try:
            with self._translated():
                try:
                    await _send(call, key, pg, pieces)
                except (asyncio.InvalidStateError, grpc.RpcError) as failed:
                    # The node ended the call while pieces were still going out (it refused
                    # the write early, e.g. it is stopping): grpc fails the next send with
                    # "RPC already finished", or a send in flight with a local INTERNAL, and
                    # the call's own status says why. (If the node's status lands while a
                    # send is in flight, grpc may keep only the local INTERNAL: a plain
                    # DataNodeError then.)
                    await call
                    raise failed  # a call ends OK only after its trailer: not reached
                reply = await call
                return info_from_pb(reply.shard)
        except BaseException:
            call.cancel()  # no trailer was sent, so the server stores nothing
            raise

    def read_shard(
        self, key: ShardKey, offset: int = 0, length: int | None = None, timeout: float = 30.0
    ) -> AsyncIterator[bytes]:
        """The shard's bytes [offset, offset+length) (to its end if length is None), verified."""
        return self._read(key, offset, length, timeout)

    async def _read(
        self, key: ShardKey, offset: int, length: int | None, timeout: float
    ) -> AsyncIterator[bytes]:
        request = datanode_pb2.ReadShardRequest(key=key_to_pb(key), offset=offset)
        if length is not None:
            request.length = length
        call = self._rpc().ReadShard(request, timeout=timeout)
        received, total = 0, None
        try:
            with self._translated():
                async for msg in call:
                    data = msg.piece.data
                    if crc32c(data) != msg.piece.crc32c:
                        raise ShardCorrupt(f"{key}: piece at {msg.offset} failed its crc32c")
                    if msg.offset != offset + received:
                        raise ShardCorrupt(f"{key}: piece at {msg.offset} out of order")
                    total = msg.range_length
                    received += len(data)
                    if data:
                        yield data
                if total is None or received != total:
                    raise ShardCorrupt(f"{key}: stream ended after {received} of {total} bytes")
        finally:
            if not call.done():
                call.cancel()

    async def delete_shards(self, keys: Sequence[ShardKey], timeout: float = 10.0) -> int:
        """Mark shards dead; returns how many were live. Unknown keys are ignored."""
        request = datanode_pb2.DeleteShardsRequest(keys=[key_to_pb(k) for k in keys])
        with self._translated():
            reply = await self._rpc().DeleteShards(request, timeout=timeout)
        return reply.deleted

    async def list_shards(
        self, pg: int, after: ShardKey | None = None, limit: int = 1000, timeout: float = 10.0
    ) -> tuple[list[ShardInfo], ShardKey | None]:
        """One page of the PG's shards (live and dead) in key order, and the next cursor."""
        request = datanode_pb2.ListShardsRequest(pg=pg, limit=limit)
        if after is not None:
            request.after.CopyFrom(key_to_pb(after))
        with self._translated():
            reply = await self._rpc().ListShards(request, timeout=timeout)
            shards = [info_from_pb(s) for s in reply.shards]
            return shards, (key_from_pb(reply.next) if reply.HasField("next") else None)

    async def stat(self, timeout: float = 5.0) -> NodeStat:
        """Capacity, usage, state, shard and volume counts and labels of the node."""
        with self._translated():
            return stat_from_pb(await self._rpc().Stat(datanode_pb2.StatRequest(), timeout=timeout))

    async def close(self) -> None:
        self._channel, channel = None, self._channel
        self._stub = None
        if channel is not None:
            await channel.close()


async def _send(call: grpc.aio.StreamUnaryCall, key: ShardKey, pg: int, pieces: AsyncIterable[bytes]) -> None:
    """A WriteShard stream: header, pieces of at most MAX_PIECE_BYTES each, trailer, half-close."""
    await call.write(datanode_pb2.WriteShardRequest(header=header_to_pb(key, pg)))
    length, whole_crc = 0, 0
    async for data in pieces:
        for i in range(0, len(data), MAX_PIECE_BYTES):
            part = data[i : i + MAX_PIECE_BYTES]
            await call.write(datanode_pb2.WriteShardRequest(piece=piece_to_pb(part)))
            length += len(part)
            whole_crc = crc32c(part, whole_crc)
    trailer = datanode_pb2.WriteShardTrailer(length=length, crc32c=whole_crc)
    await call.write(datanode_pb2.WriteShardRequest(trailer=trailer))
    await call.done_writing()
