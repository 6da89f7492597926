"""The DataNode gRPC servicer: translates messages to store calls and errors to statuses.

Only this module and client.py touch the generated stubs. Each domain error becomes a status
code plus its reason (cairn/rpc.py); the table is `_STATUS`. A WriteShard stream must start
with a header; the store sees the pieces as (bytes, crc32c) pairs and commits only when the
client half-closes, so a stream broken mid-way stores nothing. PutShard is the unary twin for
a shard that fits one message (it arrives whole or not at all, so it needs no trailer).
At most `max_concurrent_writes` write calls run at once (an asyncio.Semaphore); the rest wait
before their stream is read, so flow control holds their bytes back at the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable

import grpc
import grpc.aio

from cairn import rpc
from cairn.checksums import crc32c
from cairn.datanode import errors
from cairn.datanode.shards import ShardInfo, ShardKey, ShardState
from cairn.datanode.store import ShardStore
from cairn.proto import common_pb2, datanode_pb2, datanode_pb2_grpc

log = logging.getLogger(__name__)

DEFAULT_LIST_LIMIT = 1000
MAX_LIST_LIMIT = 10_000

_STATUS: dict[type[errors.DataNodeError], grpc.StatusCode] = {
    errors.ShardNotFound: grpc.StatusCode.NOT_FOUND,
    errors.ShardCorrupt: grpc.StatusCode.DATA_LOSS,
    errors.ShardConflict: grpc.StatusCode.FAILED_PRECONDITION,
    errors.BadShardRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NodeFull: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.DataNodeUnavailable: grpc.StatusCode.UNAVAILABLE,
}

_STATE = {ShardState.LIVE: datanode_pb2.SHARD_STATE_LIVE, ShardState.DEAD: datanode_pb2.SHARD_STATE_DEAD}


def status_of(error: errors.DataNodeError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]  # type: ignore[index]
    return grpc.StatusCode.INTERNAL


def key_from_pb(msg: common_pb2.ShardKey) -> ShardKey:
    try:
        return ShardKey(bytes(msg.blob_id), msg.index)
    except ValueError as exc:
        raise errors.BadShardRequest(str(exc)) from exc


def key_to_pb(key: ShardKey) -> common_pb2.ShardKey:
    return common_pb2.ShardKey(blob_id=key.blob_id, index=key.index)


def info_to_pb(info: ShardInfo) -> datanode_pb2.ShardInfo:
    return datanode_pb2.ShardInfo(
        key=key_to_pb(info.key),
        pg=info.pg,
        length=info.length,
        crc32c=info.crc32c,
        state=_STATE[ShardState(info.state)],
    )


class DataNodeServicer(datanode_pb2_grpc.DataNodeServicer):
    """Serves one store; `node_id` and `labels` complete the Stat reply."""

    def __init__(
        self,
        store: ShardStore,
        node_id: Callable[[], str | None],
        labels: common_pb2.FailureDomain,
        read_piece_bytes: int = 1 << 20,
        max_concurrent_writes: int = 64,
    ) -> None:
        self._store = store
        self._writes = asyncio.Semaphore(max_concurrent_writes)
        self._node_id = node_id
        self._labels = labels
        self._read_piece_bytes = read_piece_bytes

    async def _fail(self, context: grpc.aio.ServicerContext, exc: errors.DataNodeError) -> None:
        code = status_of(exc)
        if code is grpc.StatusCode.INTERNAL:
            log.exception("internal error", exc_info=exc)
        await rpc.abort(context, code, exc.reason, str(exc))

    async def WriteShard(
        self,
        request_iterator: AsyncIterator[datanode_pb2.WriteShardRequest],
        context: grpc.aio.ServicerContext,
    ) -> datanode_pb2.WriteShardResponse:
        try:
            async with self._writes:  # nothing of the stream is read while waiting here
                return await self._write_stream(request_iterator, context)
        except errors.DataNodeError as exc:
            await self._fail(context, exc)
            raise AssertionError("unreachable") from exc

    async def _write_stream(
        self,
        request_iterator: AsyncIterator[datanode_pb2.WriteShardRequest],
        context: grpc.aio.ServicerContext,
    ) -> datanode_pb2.WriteShardResponse:
        first = await anext(request_iterator, None)
        if first is None or first.WhichOneof("kind") != "header":
            raise errors.BadShardRequest("a WriteShard stream must start with a header")
        header = first.header
        key = key_from_pb(header.key)
        expected = header.expected_length if header.HasField("expected_length") else None
        result = await self._store.write(key, header.pg, _pieces(request_iterator, context), expected)
        return datanode_pb2.WriteShardResponse(
            shard=info_to_pb(result.info), already_present=result.already_present
        )

    async def PutShard(
        self, request: datanode_pb2.PutShardRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.PutShardResponse:
        try:
            if not request.HasField("header") or not request.HasField("piece"):
                raise errors.BadShardRequest("a PutShard request carries a header and a piece")
            header = request.header
            key = key_from_pb(header.key)
            expected = header.expected_length if header.HasField("expected_length") else None
            async with self._writes:
                result = await self._store.write_whole(
                    key, header.pg, request.piece.data, request.piece.crc32c, expected
                )
        except errors.DataNodeError as exc:
            await self._fail(context, exc)
            raise AssertionError("unreachable") from exc
        return datanode_pb2.PutShardResponse(
            shard=info_to_pb(result.info), already_present=result.already_present
        )

    async def ReadShard(
        self, request: datanode_pb2.ReadShardRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[datanode_pb2.ReadShardResponse]:
        try:
            key = key_from_pb(request.key)
            length = request.length if request.HasField("length") else None
            read = await self._store.open_read(key, request.offset, length)
            position, total = read.start, read.end - read.start
            if total == 0:
                yield datanode_pb2.ReadShardResponse(
                    piece=datanode_pb2.ShardPiece(data=b"", crc32c=0),
                    offset=position,
                    range_length=0,
                    shard_length=read.info.length,
                )
            async for chunk in read.chunks:
                for i in range(0, len(chunk), self._read_piece_bytes):
                    data = chunk[i : i + self._read_piece_bytes]
                    yield datanode_pb2.ReadShardResponse(
                        piece=datanode_pb2.ShardPiece(data=data, crc32c=crc32c(data)),
                        offset=position,
                        range_length=total,
                        shard_length=read.info.length,
                    )
                    position += len(data)
        except errors.DataNodeError as exc:
            await self._fail(context, exc)

    async def DeleteShards(
        self, request: datanode_pb2.DeleteShardsRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.DeleteShardsResponse:
        try:
            deleted = await self._store.delete([key_from_pb(k) for k in request.keys])
        except errors.DataNodeError as exc:
            await self._fail(context, exc)
            raise AssertionError("unreachable") from exc
        return datanode_pb2.DeleteShardsResponse(deleted=deleted)

    async def ListShards(
        self, request: datanode_pb2.ListShardsRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.ListShardsResponse:
        try:
            limit = min(request.limit or DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)
            after = key_from_pb(request.after) if request.HasField("after") else None
            infos = await self._store.list_pg(request.pg, after, limit + 1)
        except errors.DataNodeError as exc:
            await self._fail(context, exc)
            raise AssertionError("unreachable") from exc
        reply = datanode_pb2.ListShardsResponse(shards=[info_to_pb(i) for i in infos[:limit]])
        if len(infos) > limit:
            reply.next.CopyFrom(key_to_pb(infos[limit - 1].key))
        return reply

    async def Stat(
        self, request: datanode_pb2.StatRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.StatResponse:
        stats = await self._store.stats()
        reply = datanode_pb2.StatResponse(
            capacity_bytes=stats.capacity_bytes,
            used_bytes=stats.used_bytes,
            live_shards=stats.live_shards,
            state=stats.state,
            dead_shards=stats.dead_shards,
            labels=self._labels,
            volumes=stats.volumes,
            sealed_volumes=stats.sealed_volumes,
        )
        node_id = self._node_id()
        if node_id is not None:
            reply.node_id = node_id
        return reply


async def _pieces(
    requests: AsyncIterator[datanode_pb2.WriteShardRequest], context: grpc.aio.ServicerContext
) -> AsyncIterable[tuple[bytes, int]]:
    """The pieces of a write stream; raises unless the stream ends with a matching trailer.

    grpc ends the request iterator alike for a half-close and for a cancelled call, so the
    explicit trailer is what tells a complete stream from a broken one.
    """
    length, whole_crc = 0, 0
    trailer: datanode_pb2.WriteShardTrailer | None = None
    async for message in requests:
        kind = message.WhichOneof("kind")
        if kind != "piece" or trailer is not None:
            if kind == "trailer" and trailer is None:
                trailer = message.trailer
                continue
            raise errors.BadShardRequest("a WriteShard stream is header, pieces, trailer")
        data = message.piece.data
        length += len(data)
        whole_crc = crc32c(data, whole_crc)
        yield data, message.piece.crc32c
    if trailer is None or context.cancelled():
        raise errors.StreamBroken("the write stream ended without its trailer")
    if trailer.length != length:
        raise errors.LengthMismatch(f"trailer says {trailer.length} bytes, stream carried {length}")
    if trailer.crc32c != whole_crc:
        raise errors.PieceChecksumMismatch("the shard's bytes do not match the trailer's crc32c")
