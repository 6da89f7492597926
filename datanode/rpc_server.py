"""The DataNode gRPC servicer: translates messages to store calls and domain errors to statuses.

It subclasses the generated abstract `DataNodeServicer`, so mypy checks every method against
the contract; each method sits behind `rpc.edge(ERRORS)` / `rpc.edge_stream(ERRORS)`, which
ends a call that raised a domain error with its status code and reason, and anything else
with INTERNAL (logged). The error table and the message conversions are shared with the
client (`client.py`). A WriteShard stream must start with a header; the store sees the pieces
as (bytes, crc32c) pairs and commits only when the client half-closes after a matching trailer,
so a stream broken mid-way stores nothing. PutShard is the unary twin for a shard that fits
one message (it arrives whole or not at all, so it needs no trailer); PutShards and ReadShards
carry several shards or ranges, each answered on its own (`ShardError` for one that failed). At most
`max_concurrent_writes` write calls run at once (an asyncio.Semaphore); the rest wait before
their stream is read, so flow control holds their bytes back at the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import TYPE_CHECKING

import grpc.aio

from cairn import rpc
from cairn.checksums import crc32c
from cairn.datanode import errors
from cairn.datanode.client import (
    ERRORS,
    compaction_status_to_pb,
    fill_piece,
    finding_to_pb,
    info_to_pb,
    key_from_pb,
    key_to_pb,
    piece_to_pb,
    scrub_status_to_pb,
    stat_to_pb,
    update_to_pb,
)
from cairn.datanode.reports import CompactUpdate
from cairn.datanode.shards import FailureDomain, NodeStat
from cairn.datanode.store import ShardStore
from cairn.proto import datanode_pb2, datanode_pb2_grpc

if TYPE_CHECKING:
    from cairn.datanode.compaction import Compactor
    from cairn.datanode.scrub import Scrubber

log = logging.getLogger(__name__)

DEFAULT_LIST_LIMIT = 1000
MAX_LIST_LIMIT = 10_000


class DataNodeServicer(datanode_pb2_grpc.DataNodeServicer):
    """Serves one store; `node_id` and `labels` complete the Stat reply. The compaction and
    scrub RPCs need the store's `compactor` and `scrubber` (without them: UpkeepUnavailable);
    a Compact call reports progress every `progress_interval_s`."""

    def __init__(
        self,
        store: ShardStore,
        node_id: Callable[[], str | None],
        labels: FailureDomain,
        read_piece_bytes: int = 1 << 20,
        max_concurrent_writes: int = 64,
        compactor: Compactor | None = None,
        scrubber: Scrubber | None = None,
        progress_interval_s: float = 0.5,
    ) -> None:
        self._store = store
        self._compactor = compactor
        self._scrubber = scrubber
        self._progress_interval_s = progress_interval_s
        self._writes = asyncio.Semaphore(max_concurrent_writes)
        self._node_id = node_id
        self._labels = labels
        self._read_piece_bytes = read_piece_bytes

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Serve the DataNode service on `server` (before it starts)."""
        datanode_pb2_grpc.add_DataNodeServicer_to_server(self, server)

    @rpc.edge(ERRORS)
    async def WriteShard(
        self,
        request_iterator: AsyncIterator[datanode_pb2.WriteShardRequest],
        context: grpc.aio.ServicerContext,
    ) -> datanode_pb2.WriteShardResponse:
        async with self._writes:  # nothing of the stream is read while waiting here
            first = await anext(request_iterator, None)
            if first is None or first.WhichOneof("kind") != "header":
                raise errors.BadShardRequest("a WriteShard stream must start with a header")
            header = first.header
            key = key_from_pb(header.key)
            expected = header.expected_length if header.HasField("expected_length") else None
            pieces = _pieces(request_iterator, context)
            result = await self._store.write(key, header.pg, pieces, expected)
        return datanode_pb2.WriteShardResponse(
            shard=info_to_pb(result.info), already_present=result.already_present
        )

    @rpc.edge(ERRORS)
    async def PutShard(
        self, request: datanode_pb2.PutShardRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.PutShardResponse:
        return await self._put(request)

    @rpc.edge(ERRORS)
    async def PutShards(
        self, request: datanode_pb2.PutShardsRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.PutShardsResponse:
        async def one(shard: datanode_pb2.PutShardRequest) -> datanode_pb2.PutShardsResult:
            try:
                return datanode_pb2.PutShardsResult(stored=await self._put(shard))
            except Exception as exc:  # noqa: BLE001 - one shard's failure is that shard's answer
                return datanode_pb2.PutShardsResult(error=_shard_error(exc, "PutShards"))

        # concurrently: the writes meet in the writer lanes' batches (one fsync for the lot)
        results = await asyncio.gather(*(one(shard) for shard in request.shards))
        return datanode_pb2.PutShardsResponse(results=results)

    async def _put(self, request: datanode_pb2.PutShardRequest) -> datanode_pb2.PutShardResponse:
        if not request.HasField("header") or not request.HasField("piece"):
            raise errors.BadShardRequest("a PutShard request carries a header and a piece")
        header = request.header
        key = key_from_pb(header.key)
        expected = header.expected_length if header.HasField("expected_length") else None
        async with self._writes:
            result = await self._store.write_whole(
                key, header.pg, request.piece.data, request.piece.crc32c, expected
            )
        return datanode_pb2.PutShardResponse(
            shard=info_to_pb(result.info), already_present=result.already_present
        )

    @rpc.edge_stream(ERRORS)
    async def ReadShard(
        self, request: datanode_pb2.ReadShardRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[datanode_pb2.ReadShardResponse]:
        key = key_from_pb(request.key)
        length = request.length if request.HasField("length") else None
        read = await self._store.open_read(key, request.offset, length)
        position, total = read.start, read.end - read.start
        if total == 0:
            yield datanode_pb2.ReadShardResponse(
                piece=piece_to_pb(b""),
                offset=position,
                range_length=0,
                shard_length=read.info.length,
            )
        async for chunk in read.chunks:
            for i in range(0, len(chunk), self._read_piece_bytes):
                data = chunk[i : i + self._read_piece_bytes]
                message = datanode_pb2.ReadShardResponse(
                    offset=position, range_length=total, shard_length=read.info.length
                )
                fill_piece(message.piece, data)
                yield message
                position += len(data)

    @rpc.edge(ERRORS)
    async def ReadShards(
        self, request: datanode_pb2.ReadShardsRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.ReadShardsResponse:
        reads = [
            (key_from_pb(r.key), r.offset, r.length if r.HasField("length") else None) for r in request.reads
        ]
        reply = datanode_pb2.ReadShardsResponse()
        for read in await self._store.read_ranges(reads):
            if isinstance(read, Exception):
                reply.results.add(error=_shard_error(read, "ReadShards"))
            else:
                shard_range = reply.results.add().range
                shard_range.offset, shard_range.shard_length = read.offset, read.info.length
                fill_piece(shard_range.piece, read.data)
        return reply

    @rpc.edge(ERRORS)
    async def DeleteShards(
        self, request: datanode_pb2.DeleteShardsRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.DeleteShardsResponse:
        deleted = await self._store.delete([key_from_pb(k) for k in request.keys], release=request.release)
        return datanode_pb2.DeleteShardsResponse(deleted=deleted)

    @rpc.edge(ERRORS)
    async def ListShards(
        self, request: datanode_pb2.ListShardsRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.ListShardsResponse:
        limit = min(request.limit or DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)
        after = key_from_pb(request.after) if request.HasField("after") else None
        infos = await self._store.list_pg(request.pg, after, limit + 1)
        reply = datanode_pb2.ListShardsResponse(shards=[info_to_pb(i) for i in infos[:limit]])
        if len(infos) > limit:
            reply.next.CopyFrom(key_to_pb(infos[limit - 1].key))
        return reply

    @rpc.edge(ERRORS)
    async def Stat(
        self, request: datanode_pb2.StatRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.StatResponse:
        stats = await self._store.stats()
        return stat_to_pb(
            NodeStat(
                node_id=self._node_id(),
                capacity_bytes=stats.capacity_bytes,
                used_bytes=stats.used_bytes,
                live_shards=stats.live_shards,
                state=stats.state,
                dead_shards=stats.dead_shards,
                volumes=stats.volumes,
                sealed_volumes=stats.sealed_volumes,
                labels=self._labels,
            )
        )

    # -- compaction and scrub ------------------------------------------------------------------

    def _need_compactor(self) -> Compactor:
        if self._compactor is None:
            raise errors.UpkeepUnavailable("this node runs no compaction")
        return self._compactor

    def _need_scrubber(self) -> Scrubber:
        if self._scrubber is None:
            raise errors.UpkeepUnavailable("this node runs no scrub")
        return self._scrubber

    @rpc.edge(ERRORS)
    async def CompactionStatus(
        self, request: datanode_pb2.CompactionStatusRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.CompactionStatusResponse:
        return compaction_status_to_pb(await self._need_compactor().status())

    @rpc.edge_stream(ERRORS)
    async def Compact(
        self, request: datanode_pb2.CompactRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[datanode_pb2.CompactProgress]:
        compactor = self._need_compactor()
        volume = request.volume if request.HasField("volume") else None
        fraction = request.dead_fraction if request.HasField("dead_fraction") else None
        minimum = request.min_dead_bytes if request.HasField("min_dead_bytes") else None
        if fraction is not None and not 0 <= fraction <= 1:
            raise errors.BadShardRequest(f"dead_fraction must lie in [0, 1], not {fraction}")
        started = compactor.start_pass(fraction, minimum, volume)
        if not started and volume is not None:
            raise errors.CompactionBusy(f"a compaction pass is running; volume {volume} was not started")
        async for progress in compactor.follow_pass(self._progress_interval_s):
            yield update_to_pb(CompactUpdate(started, progress, compactor.current_job))

    @rpc.edge(ERRORS)
    async def ScrubStatus(
        self, request: datanode_pb2.ScrubStatusRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.ScrubStatusResponse:
        return scrub_status_to_pb(await self._need_scrubber().status())

    @rpc.edge(ERRORS)
    async def ScrubStart(
        self, request: datanode_pb2.ScrubStartRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.ScrubStartResponse:
        return datanode_pb2.ScrubStartResponse(started=await self._need_scrubber().start_pass())

    @rpc.edge(ERRORS)
    async def ScrubPause(
        self, request: datanode_pb2.ScrubPauseRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.ScrubPauseResponse:
        await self._need_scrubber().pause()
        return datanode_pb2.ScrubPauseResponse()

    @rpc.edge(ERRORS)
    async def ListScrubFindings(
        self, request: datanode_pb2.ListScrubFindingsRequest, context: grpc.aio.ServicerContext
    ) -> datanode_pb2.ListScrubFindingsResponse:
        limit = min(request.limit or DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)
        after = key_from_pb(request.after) if request.HasField("after") else None
        found = await self._need_scrubber().findings(after, limit + 1)
        reply = datanode_pb2.ListScrubFindingsResponse(findings=[finding_to_pb(f) for f in found[:limit]])
        if len(found) > limit:
            reply.next.CopyFrom(key_to_pb(found[limit - 1].key))
        return reply


def _shard_error(exc: Exception, method: str) -> datanode_pb2.ShardError:
    """One item's error in a batched reply, as the edge would have ended a call of its own."""
    reason = ERRORS.reason_for(exc)
    if reason == "InternalError":
        log.error("%s: one item failed", method, exc_info=exc)
        return datanode_pb2.ShardError(reason=reason, message=f"{method}: {type(exc).__name__}")
    return datanode_pb2.ShardError(reason=reason, message=str(exc) or reason)


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
