"""The typed async client of one data node (the contract is in /work/notes/interfaces.md).

Callers see dataclasses (`ShardKey`, `ShardInfo`, `NodeStat`) and `DataNodeError`
subclasses, never protobuf or grpc types. Every call carries a deadline. `write_shard` sends a
shard that turns out to be one piece as a unary PutShard, anything else as a WriteShard stream. Every piece is sent
with its CRC32C and every piece received is checked against its CRC32C; a read stream that
ends short, out of order or with a bad piece raises `ShardCorrupt`. Errors are classified by
the server's reason (cairn/rpc.py), falling back to the status code for transport failures.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence

import grpc
import grpc.aio

from cairn import rpc
from cairn.checksums import crc32c
from cairn.datanode.errors import (
    REASONS,
    DataNodeError,
    DataNodeUnavailable,
    ShardConflict,
    ShardCorrupt,
    ShardNotFound,
)
from cairn.datanode.shards import NodeStat, ShardInfo, ShardKey
from cairn.proto import common_pb2, datanode_pb2, datanode_pb2_grpc

__all__ = [
    "DataNodeClient",
    "DataNodeError",
    "DataNodeUnavailable",
    "NodeStat",
    "ShardConflict",
    "ShardCorrupt",
    "ShardInfo",
    "ShardKey",
    "ShardNotFound",
]

#: Pieces larger than this are split before sending (gRPC messages stay small).
MAX_PIECE_BYTES = 4 << 20
#: A shard that turns out to be one piece of at most this size goes as one unary PutShard call
#: instead of a WriteShard stream (one message instead of header, piece, trailer, half-close).
MAX_UNARY_BYTES = 4 << 20

_TRANSPORT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
_BY_CODE: dict[grpc.StatusCode, type[DataNodeError]] = {
    grpc.StatusCode.NOT_FOUND: ShardNotFound,
    grpc.StatusCode.DATA_LOSS: ShardCorrupt,
    grpc.StatusCode.FAILED_PRECONDITION: ShardConflict,
}
_STATES = {
    datanode_pb2.SHARD_STATE_LIVE: "live",
    datanode_pb2.SHARD_STATE_DEAD: "dead",
}


def _key_pb(key: ShardKey) -> common_pb2.ShardKey:
    return common_pb2.ShardKey(blob_id=key.blob_id, index=key.index)


def _key(msg: common_pb2.ShardKey) -> ShardKey:
    return ShardKey(bytes(msg.blob_id), msg.index)


def _info(msg: datanode_pb2.ShardInfo) -> ShardInfo:
    return ShardInfo(_key(msg.key), msg.pg, msg.length, msg.crc32c, _STATES.get(msg.state, "unknown"))


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
        self._stub: datanode_pb2_grpc.DataNodeStub | None = None

    def _rpc(self) -> datanode_pb2_grpc.DataNodeStub:
        if self._stub is None:
            self._channel = rpc.channel(self.addr)
            self._stub = datanode_pb2_grpc.DataNodeStub(self._channel)
        return self._stub

    def _error(self, err: grpc.RpcError) -> DataNodeError:
        reason, code = rpc.reason_of(err), rpc.status_of(err)
        details = err.details() if hasattr(err, "details") else str(err)
        cls: type[DataNodeError]
        if reason is not None and reason in REASONS:
            cls = REASONS[reason]
        elif code in _TRANSPORT:
            cls = DataNodeUnavailable
        else:
            cls = _BY_CODE.get(code, DataNodeError) if code is not None else DataNodeError
        return cls(f"{self.addr}: {code.name if code else 'error'}: {details}")

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
        request = datanode_pb2.PutShardRequest(
            header=datanode_pb2.WriteShardHeader(key=_key_pb(key), pg=pg),
            piece=datanode_pb2.ShardPiece(data=data, crc32c=crc32c(data)),
        )
        try:
            reply = await self._rpc().PutShard(request, timeout=timeout)
        except grpc.RpcError as err:
            raise self._error(err) from err
        return _info(reply.shard)

    async def _stream(
        self, key: ShardKey, pg: int, pieces: AsyncIterable[bytes], timeout: float
    ) -> ShardInfo:
        call = self._rpc().WriteShard(timeout=timeout)
        try:
            await call.write(
                datanode_pb2.WriteShardRequest(header=datanode_pb2.WriteShardHeader(key=_key_pb(key), pg=pg))
            )
            length, whole_crc = 0, 0
            async for data in pieces:
                for i in range(0, len(data), MAX_PIECE_BYTES):
                    part = data[i : i + MAX_PIECE_BYTES]
                    part_crc = crc32c(part)
                    await call.write(
                        datanode_pb2.WriteShardRequest(
                            piece=datanode_pb2.ShardPiece(data=part, crc32c=part_crc)
                        )
                    )
                    length += len(part)
                    whole_crc = crc32c(part, whole_crc)
            await call.write(
                datanode_pb2.WriteShardRequest(
                    trailer=datanode_pb2.WriteShardTrailer(length=length, crc32c=whole_crc)
                )
            )
            await call.done_writing()
            reply = await call
        except grpc.RpcError as err:
            raise self._error(err) from err
        except BaseException:
            call.cancel()  # no trailer was sent, so the server stores nothing
            raise
        return _info(reply.shard)

    def read_shard(
        self, key: ShardKey, offset: int = 0, length: int | None = None, timeout: float = 30.0
    ) -> AsyncIterator[bytes]:
        """The shard's bytes [offset, offset+length) (to its end if length is None), verified."""
        return self._read(key, offset, length, timeout)

    async def _read(
        self, key: ShardKey, offset: int, length: int | None, timeout: float
    ) -> AsyncIterator[bytes]:
        request = datanode_pb2.ReadShardRequest(key=_key_pb(key), offset=offset)
        if length is not None:
            request.length = length
        call = self._rpc().ReadShard(request, timeout=timeout)
        received, total = 0, None
        try:
            async for msg in call:
                data = msg.piece.data
                if crc32c(data) != msg.piece.crc32c:
                    raise ShardCorrupt(f"{self.addr}: {key}: piece at {msg.offset} failed its crc32c")
                if msg.offset != offset + received:
                    raise ShardCorrupt(f"{self.addr}: {key}: piece at {msg.offset} out of order")
                total = msg.range_length
                received += len(data)
                if data:
                    yield data
        except grpc.RpcError as err:
            raise self._error(err) from err
        finally:
            if not call.done():
                call.cancel()
        if total is None or received != total:
            raise ShardCorrupt(f"{self.addr}: {key}: stream ended after {received} of {total} bytes")

    async def delete_shards(self, keys: Sequence[ShardKey], timeout: float = 10.0) -> int:
        """Mark shards dead; returns how many were live. Unknown keys are ignored."""
        try:
            reply = await self._rpc().DeleteShards(
                datanode_pb2.DeleteShardsRequest(keys=[_key_pb(k) for k in keys]), timeout=timeout
            )
        except grpc.RpcError as err:
            raise self._error(err) from err
        return int(reply.deleted)

    async def list_shards(
        self, pg: int, after: ShardKey | None = None, limit: int = 1000, timeout: float = 10.0
    ) -> tuple[list[ShardInfo], ShardKey | None]:
        """One page of the PG's shards (live and dead) in key order, and the next cursor."""
        request = datanode_pb2.ListShardsRequest(pg=pg, limit=limit)
        if after is not None:
            request.after.CopyFrom(_key_pb(after))
        try:
            reply = await self._rpc().ListShards(request, timeout=timeout)
        except grpc.RpcError as err:
            raise self._error(err) from err
        return [_info(s) for s in reply.shards], (_key(reply.next) if reply.HasField("next") else None)

    async def stat(self, timeout: float = 5.0) -> NodeStat:
        try:
            reply = await self._rpc().Stat(datanode_pb2.StatRequest(), timeout=timeout)
        except grpc.RpcError as err:
            raise self._error(err) from err
        return NodeStat(
            reply.node_id if reply.HasField("node_id") else None,
            reply.capacity_bytes,
            reply.used_bytes,
            reply.live_shards,
            reply.state,
        )

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel, self._stub = None, None
