"""The typed async client of one data node, and the RPC edge its servicer shares.

The contract is `proto/datanode.proto` (service `cairn.datanode.v1.DataNode`). Callers see
dataclasses and enums (`ShardKey`, `ShardInfo`, `NodeStat`, `ShardState`, `NodeState`) and
`DataNodeError` subclasses, never protobuf or grpc types. Every call carries a deadline.
`write_shard` sends a shard that turns out to be one piece as a unary PutShard, anything else
as a WriteShard stream; `read_shard` of a bounded range reads it in one message. Small ones of
both go through a per-node `batching.Coalescer`, which batches the calls that queue up while
the node is busy into one PutShards / ReadShards call (`put_shards` / `read_ranges` send such
a batch directly); within a batch each shard succeeds or fails on its own. Every piece is sent with its CRC32C and every piece received is
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
from typing import TypeVar, cast

import grpc
import grpc.aio

from cairn import rpc
from cairn.checksums import crc32c
from cairn.datanode.batching import Coalescer
from cairn.datanode.compaction_record import Phase
from cairn.datanode.errors import (
    BadShardRequest,
    CompactionBusy,
    DataNodeError,
    DataNodeUnavailable,
    NodeFull,
    ShardConflict,
    ShardCorrupt,
    ShardNotFound,
    UpkeepUnavailable,
)
from cairn.datanode.reports import (
    CompactionResult,
    CompactionStatus,
    CompactUpdate,
    Finding,
    FindingKind,
    PassProgress,
    Progress,
    ScrubState,
    ScrubStatus,
    VolumeScrub,
)
from cairn.datanode.shards import FailureDomain, NodeStat, NodeState, ShardInfo, ShardKey, ShardState
from cairn.proto import common_pb2, datanode_pb2, datanode_pb2_grpc

T = TypeVar("T")
E = TypeVar("E", bound=Exception)

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
#: A one-piece shard of at most this size, and a read of at most this many bytes, goes through
#: the client's coalescer for its node (`batching.Coalescer`): alone when the node has few calls
#: in flight, else batched with the others queued meanwhile into one PutShards / ReadShards call.
MAX_BATCHED_ITEM_BYTES = 1 << 20
#: Bytes of shards (or of requested ranges) in one PutShards / ReadShards call.
MAX_BATCH_BYTES = 4 << 20
#: Batched calls one client keeps on the wire to its node at once, per kind (writes, reads).
MAX_BATCHES_IN_FLIGHT = 2

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
        CompactionBusy: grpc.StatusCode.FAILED_PRECONDITION,
        UpkeepUnavailable: grpc.StatusCode.UNIMPLEMENTED,
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


def put_request(key: ShardKey, pg: int, data: bytes) -> datanode_pb2.PutShardRequest:
    request = datanode_pb2.PutShardRequest(header=header_to_pb(key, pg))
    fill_piece(request.piece, data)
    return request


def piece_to_pb(data: bytes) -> datanode_pb2.ShardPiece:
    return datanode_pb2.ShardPiece(data=data, crc32c=crc32c(data))


def fill_piece(piece: datanode_pb2.ShardPiece, data: bytes) -> None:
    """Set a message's piece field in place: passing a ShardPiece to a message's constructor
    copies its bytes once more (several times slower per MiB with upb)."""
    piece.data = data
    piece.crc32c = crc32c(data)


# -- compaction and scrub (reports.py) <-> messages ----------------------------------------------

_PHASE_TO_PB: dict[Phase, datanode_pb2.CompactionPhase] = {
    p: cast("datanode_pb2.CompactionPhase", datanode_pb2.CompactionPhase.Value(f"COMPACTION_PHASE_{p.name}"))
    for p in Phase
}
_PHASE_FROM_PB: dict[int, Phase] = {number: phase for phase, number in _PHASE_TO_PB.items()}
_SCRUB_STATE_TO_PB: dict[ScrubState, datanode_pb2.ScrubState] = {
    s: cast("datanode_pb2.ScrubState", datanode_pb2.ScrubState.Value(f"SCRUB_STATE_{s.name}"))
    for s in ScrubState
}
_SCRUB_STATE_FROM_PB: dict[int, ScrubState] = {number: state for state, number in _SCRUB_STATE_TO_PB.items()}
_FINDING_TO_PB: dict[FindingKind, datanode_pb2.FindingKind] = {
    k: cast("datanode_pb2.FindingKind", datanode_pb2.FindingKind.Value(f"FINDING_KIND_{k.name}"))
    for k in FindingKind
}
_FINDING_FROM_PB: dict[int, FindingKind] = {number: kind for kind, number in _FINDING_TO_PB.items()}


def _known(table: dict[int, T], number: int, what: str) -> T:
    try:
        return table[number]
    except KeyError:
        raise DataNodeError(f"the node sent an unknown {what} ({number})") from None


def job_to_pb(p: Progress) -> datanode_pb2.CompactionJob:
    return datanode_pb2.CompactionJob(
        job_id=p.job_id,
        source=p.source,
        target=p.target,
        phase=_PHASE_TO_PB[p.phase],
        source_bytes=p.source_bytes,
        scanned_bytes=p.scanned_bytes,
        copied_bytes=p.copied_bytes,
    )


def job_from_pb(msg: datanode_pb2.CompactionJob) -> Progress:
    phase = _known(_PHASE_FROM_PB, msg.phase, "compaction phase")
    return Progress(
        msg.job_id, msg.source, msg.target, phase, msg.source_bytes, msg.scanned_bytes, msg.copied_bytes
    )


def result_to_pb(r: CompactionResult) -> datanode_pb2.CompactionResult:
    return datanode_pb2.CompactionResult(
        job_id=r.job_id,
        source=r.source,
        target=r.target,
        outcome=r.outcome,
        source_bytes=r.source_bytes,
        target_bytes=r.target_bytes,
        records=r.records,
        started_at=r.started_at,
        finished_at=r.finished_at,
    )


def result_from_pb(m: datanode_pb2.CompactionResult) -> CompactionResult:
    return CompactionResult(
        m.job_id,
        m.source,
        m.target,
        m.outcome,
        m.source_bytes,
        m.target_bytes,
        m.records,
        m.started_at,
        m.finished_at,
    )


def pass_to_pb(p: PassProgress) -> datanode_pb2.CompactionPass:
    msg = datanode_pb2.CompactionPass(
        started_at=p.started_at, volumes=p.volumes, results=[result_to_pb(r) for r in p.results]
    )
    if p.finished_at is not None:
        msg.finished_at = p.finished_at
    return msg


def pass_from_pb(m: datanode_pb2.CompactionPass) -> PassProgress:
    return PassProgress(
        m.started_at,
        m.finished_at if m.HasField("finished_at") else None,
        tuple(m.volumes),
        tuple(result_from_pb(r) for r in m.results),
    )


def compaction_status_to_pb(s: CompactionStatus) -> datanode_pb2.CompactionStatusResponse:
    msg = datanode_pb2.CompactionStatusResponse(
        enabled=s.enabled,
        running=s.running,
        compacted=s.compacted,
        aborted=s.aborted,
        reclaimed_bytes=s.reclaimed_bytes,
        recent=[result_to_pb(r) for r in s.recent],
    )
    if s.current is not None:
        msg.current.CopyFrom(job_to_pb(s.current))
    if s.last_pass is not None:
        msg.last_pass.CopyFrom(pass_to_pb(s.last_pass))
    return msg


def compaction_status_from_pb(m: datanode_pb2.CompactionStatusResponse) -> CompactionStatus:
    return CompactionStatus(
        m.enabled,
        m.running,
        job_from_pb(m.current) if m.HasField("current") else None,
        pass_from_pb(m.last_pass) if m.HasField("last_pass") else None,
        m.compacted,
        m.aborted,
        m.reclaimed_bytes,
        tuple(result_from_pb(r) for r in m.recent),
    )


def update_to_pb(u: CompactUpdate) -> datanode_pb2.CompactProgress:
    msg = datanode_pb2.CompactProgress(started=u.started)
    getattr(msg, "pass").CopyFrom(pass_to_pb(u.progress))  # `pass` is a Python keyword
    if u.job is not None:
        msg.job.CopyFrom(job_to_pb(u.job))
    return msg


def update_from_pb(m: datanode_pb2.CompactProgress) -> CompactUpdate:
    progress = pass_from_pb(getattr(m, "pass"))
    return CompactUpdate(m.started, progress, job_from_pb(m.job) if m.HasField("job") else None)


def volume_scrub_to_pb(v: VolumeScrub) -> datanode_pb2.VolumeScrub:
    return datanode_pb2.VolumeScrub(
        volume=v.volume,
        scrubbed_at=v.scrubbed_at,
        bytes=v.bytes,
        records=v.records,
        damaged=v.damaged,
        findings=v.findings,
        error=v.error,
    )


def scrub_status_to_pb(s: ScrubStatus) -> datanode_pb2.ScrubStatusResponse:
    msg = datanode_pb2.ScrubStatusResponse(
        state=_SCRUB_STATE_TO_PB[s.state],
        enabled=s.enabled,
        rate_mib_s=s.rate_mib_s,
        pass_volumes_done=s.pass_volumes_done,
        pass_volumes_total=s.pass_volumes_total,
        pass_bytes=s.pass_bytes,
        findings=s.findings,
        volumes=[volume_scrub_to_pb(v) for v in s.volumes],
    )
    if s.current_volume is not None:
        msg.current_volume = s.current_volume
    if s.pass_started_at is not None:
        msg.pass_started_at = s.pass_started_at
    if s.pass_finished_at is not None:
        msg.pass_finished_at = s.pass_finished_at
    return msg


def scrub_status_from_pb(m: datanode_pb2.ScrubStatusResponse) -> ScrubStatus:
    return ScrubStatus(
        _known(_SCRUB_STATE_FROM_PB, m.state, "scrub state"),
        m.enabled,
        m.rate_mib_s,
        m.current_volume if m.HasField("current_volume") else None,
        m.pass_started_at if m.HasField("pass_started_at") else None,
        m.pass_finished_at if m.HasField("pass_finished_at") else None,
        m.pass_volumes_done,
        m.pass_volumes_total,
        m.pass_bytes,
        m.findings,
        tuple(
            VolumeScrub(v.volume, v.scrubbed_at, v.bytes, v.records, v.damaged, v.findings, v.error)
            for v in m.volumes
        ),
    )


def finding_to_pb(f: Finding) -> datanode_pb2.ScrubFinding:
    return datanode_pb2.ScrubFinding(
        key=key_to_pb(f.key),
        pg=f.pg,
        volume=f.volume,
        offset=f.offset,
        kind=_FINDING_TO_PB[f.kind],
        detail=f.detail,
        found_at=f.found_at,
    )


def finding_from_pb(m: datanode_pb2.ScrubFinding) -> Finding:
    kind = _known(_FINDING_FROM_PB, m.kind, "finding kind")
    return Finding(key_from_pb(m.key), m.pg, m.volume, m.offset, kind, m.detail, m.found_at)


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
        self.puts: Coalescer[datanode_pb2.PutShardRequest, ShardInfo] = Coalescer(
            self._send_puts, what=addr, max_in_flight=MAX_BATCHES_IN_FLIGHT, max_bytes=MAX_BATCH_BYTES
        )
        self.reads: Coalescer[datanode_pb2.ReadShardRequest, bytes] = Coalescer(
            self._send_reads, what=addr, max_in_flight=MAX_BATCHES_IN_FLIGHT, max_bytes=MAX_BATCH_BYTES
        )

    def _rpc(self) -> datanode_pb2_grpc.DataNodeAsyncStub:
        if self._stub is None:
            self._channel = rpc.channel(self.addr, server_role="datanode")
            self._stub = cast(
                "datanode_pb2_grpc.DataNodeAsyncStub", datanode_pb2_grpc.DataNodeStub(self._channel)
            )
        return self._stub

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """`ERRORS.translated()`, with this node's address leading the error's message."""
        try:
            with ERRORS.translated():
                yield
        except DataNodeError as exc:
            raise self._named(exc) from None

    def _named(self, exc: E) -> E:
        return type(exc)(f"{self.addr}: {exc}")

    async def write_shard(
        self, key: ShardKey, pg: int, pieces: AsyncIterable[bytes], timeout: float = 60.0
    ) -> ShardInfo:
        """Send a shard; returns once its bytes and index row are durable (idempotent).

        Looks one piece ahead: a shard that is a single piece of at most MAX_UNARY_BYTES (or
        empty) goes as one unary PutShard call (through the coalescer if at most
        MAX_BATCHED_ITEM_BYTES), anything else as a WriteShard stream.
        """
        it = aiter(pieces)
        first = await anext(it, None)
        second = await anext(it, None) if first is not None else None
        if first is None or (second is None and len(first) <= MAX_UNARY_BYTES):
            request = put_request(key, pg, bytes(first or b""))
            if len(request.piece.data) <= MAX_BATCHED_ITEM_BYTES:
                return await self.puts.call(request, len(request.piece.data), timeout)
            return await self._put(request, timeout)
        return await self._stream(key, pg, _chain(first, second, it), timeout)

    async def put_shards(
        self, shards: Sequence[tuple[ShardKey, int, bytes]], timeout: float = 60.0
    ) -> list[ShardInfo | DataNodeError]:
        """Write several whole shards (key, pg, bytes) in one PutShards call; per shard, its
        info once durable, or the error that shard alone met. A failed call raises."""
        return await self._put_many([put_request(k, pg, data) for k, pg, data in shards], timeout)

    async def _send_puts(
        self, requests: list[datanode_pb2.PutShardRequest], timeout: float
    ) -> Sequence[ShardInfo | DataNodeError]:
        if len(requests) == 1:
            return [await self._put(requests[0], timeout)]
        return await self._put_many(requests, timeout)

    async def _put_many(
        self, requests: list[datanode_pb2.PutShardRequest], timeout: float
    ) -> list[ShardInfo | DataNodeError]:
        with self._translated():
            reply = await self._rpc().PutShards(
                datanode_pb2.PutShardsRequest(shards=requests), timeout=timeout
            )
        self._check_count(len(reply.results), len(requests))
        return [
            info_from_pb(r.stored.shard) if r.WhichOneof("outcome") == "stored" else self._item_error(r.error)
            for r in reply.results
        ]

    def _item_error(self, error: datanode_pb2.ShardError) -> DataNodeError:
        exc = ERRORS.rebuild(error.reason, error.message)
        return self._named(exc if isinstance(exc, DataNodeError) else DataNodeError(str(exc)))

    def _check_count(self, got: int, sent: int) -> None:
        if got != sent:
            raise DataNodeError(f"{self.addr}: {got} results for {sent} items")

    async def _put(self, request: datanode_pb2.PutShardRequest, timeout: float) -> ShardInfo:
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
        """The shard's bytes [offset, offset+length) (to its end if length is None), verified.

        A range of at most MAX_BATCHED_ITEM_BYTES arrives whole, through the coalescer; others
        as a ReadShard stream."""
        if length is not None and 0 <= length <= MAX_BATCHED_ITEM_BYTES:
            return self._read_coalesced(key, offset, length, timeout)
        return self._read(key, offset, length, timeout)

    async def read_ranges(
        self, reads: Sequence[tuple[ShardKey, int, int]], timeout: float = 30.0
    ) -> list[bytes | DataNodeError]:
        """Read several ranges (key, offset, length) in one ReadShards call; per range, its
        verified bytes (cut at the shard's end), or the error that read alone met."""
        requests = [datanode_pb2.ReadShardRequest(key=key_to_pb(k), offset=o, length=n) for k, o, n in reads]
        return await self._read_many(requests, timeout)

    async def _read_coalesced(
        self, key: ShardKey, offset: int, length: int, timeout: float
    ) -> AsyncIterator[bytes]:
        request = datanode_pb2.ReadShardRequest(key=key_to_pb(key), offset=offset, length=length)
        data = await self.reads.call(request, length, timeout)
        if data:
            yield data

    async def _send_reads(
        self, requests: list[datanode_pb2.ReadShardRequest], timeout: float
    ) -> Sequence[bytes | DataNodeError]:
        return await self._read_many(requests, timeout)

    async def _read_many(
        self, requests: list[datanode_pb2.ReadShardRequest], timeout: float
    ) -> list[bytes | DataNodeError]:
        with self._translated():
            reply = await self._rpc().ReadShards(
                datanode_pb2.ReadShardsRequest(reads=requests), timeout=timeout
            )
        self._check_count(len(reply.results), len(requests))
        out: list[bytes | DataNodeError] = []
        for request, result in zip(requests, reply.results, strict=True):
            if result.WhichOneof("outcome") != "range":
                out.append(self._item_error(result.error))
                continue
            got = result.range
            data, want = got.piece.data, max(0, min(request.length, got.shard_length - request.offset))
            key = key_from_pb(request.key)
            if crc32c(data) != got.piece.crc32c:
                out.append(self._named(ShardCorrupt(f"{key}: range at {got.offset} failed its crc32c")))
            elif got.offset != request.offset or len(data) != want:
                out.append(
                    self._named(
                        ShardCorrupt(
                            f"{key}: got {len(data)} bytes at {got.offset}, not {want} at {request.offset}"
                        )
                    )
                )
            else:
                out.append(data)
        return out

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

    async def delete_shards(
        self, keys: Sequence[ShardKey], timeout: float = 10.0, *, release: bool = False
    ) -> int:
        """Mark shards dead; returns how many were live. Unknown keys are ignored. With `release`
        the live copies are given up and the keys stay writable (store.py `delete`)."""
        request = datanode_pb2.DeleteShardsRequest(keys=[key_to_pb(k) for k in keys], release=release)
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

    # -- compaction and scrub ------------------------------------------------------------------

    async def compaction_status(self, timeout: float = 10.0) -> CompactionStatus:
        """The node's compactor: the job under way, the current or last pass, totals, history."""
        with self._translated():
            reply = await self._rpc().CompactionStatus(
                datanode_pb2.CompactionStatusRequest(), timeout=timeout
            )
            return compaction_status_from_pb(reply)

    def compact(
        self,
        volume: int | None = None,
        dead_fraction: float | None = None,
        min_dead_bytes: int | None = None,
        timeout: float = 3600.0,
    ) -> AsyncIterator[CompactUpdate]:
        """Start a pass on the node (or follow the one running) and yield its progress until
        it ends. Leaving early does not stop the pass."""
        request = datanode_pb2.CompactRequest()
        if volume is not None:
            request.volume = volume
        if dead_fraction is not None:
            request.dead_fraction = dead_fraction
        if min_dead_bytes is not None:
            request.min_dead_bytes = min_dead_bytes
        return self._compact(request, timeout)

    async def _compact(
        self, request: datanode_pb2.CompactRequest, timeout: float
    ) -> AsyncIterator[CompactUpdate]:
        call = self._rpc().Compact(request, timeout=timeout)
        try:
            with self._translated():
                async for msg in call:
                    yield update_from_pb(msg)
        finally:
            if not call.done():
                call.cancel()

    async def scrub_status(self, timeout: float = 10.0) -> ScrubStatus:
        """Scrub state, pass progress, findings count and each volume's last scrub."""
        with self._translated():
            return scrub_status_from_pb(
                await self._rpc().ScrubStatus(datanode_pb2.ScrubStatusRequest(), timeout=timeout)
            )

    async def scrub_start(self, timeout: float = 10.0) -> bool:
        """Lift a pause and begin a pass; False if one was already under way."""
        with self._translated():
            reply = await self._rpc().ScrubStart(datanode_pb2.ScrubStartRequest(), timeout=timeout)
        return reply.started

    async def scrub_pause(self, timeout: float = 10.0) -> None:
        """Hold scrub passes until `scrub_start` (the pause survives restarts)."""
        with self._translated():
            await self._rpc().ScrubPause(datanode_pb2.ScrubPauseRequest(), timeout=timeout)

    async def scrub_findings(
        self, after: ShardKey | None = None, limit: int = 1000, timeout: float = 10.0
    ) -> tuple[list[Finding], ShardKey | None]:
        """One page of the current scrub findings in key order, and the next cursor."""
        request = datanode_pb2.ListScrubFindingsRequest(limit=limit)
        if after is not None:
            request.after.CopyFrom(key_to_pb(after))
        with self._translated():
            reply = await self._rpc().ListScrubFindings(request, timeout=timeout)
            findings = [finding_from_pb(f) for f in reply.findings]
            return findings, (key_from_pb(reply.next) if reply.HasField("next") else None)

    async def close(self) -> None:
        await self.puts.close()
        await self.reads.close()
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
            message = datanode_pb2.WriteShardRequest()
            fill_piece(message.piece, part)
            await call.write(message)
            length += len(part)
            whole_crc = crc32c(part, whole_crc)
    trailer = datanode_pb2.WriteShardTrailer(length=length, crc32c=whole_crc)
    await call.write(datanode_pb2.WriteShardRequest(trailer=trailer))
    await call.done_writing()
