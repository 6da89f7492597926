"""Data routing shared by the blob writer and reader: the data node seam, the client pool, config, errors.

The S3 service moves blob bytes to and from data nodes only through `DataNodeLike`, a Protocol with
exactly the methods of `cairn.datanode.client.DataNodeClient`; unit tests plug in an in-memory twin.
`DataNodePool` keeps one client per node address for the life of the service and closes them all on
shutdown; it also owns the process-wide `NodeHealth` (blob_health.py) that lets every read avoid a node
that recently timed out or was unreachable. `BlobWriter` (blob_writer.py) and `BlobReader` (blob_reader.py) are the two data paths built on
these types.

Invariants:
- Nothing here imports grpc or generated stubs; errors from nodes arrive as `DataNodeError` subclasses.
- A blob's layout (size, stripe size, k, m) is recorded with the object version (`cairn.blobs.BlobRef`);
  the reader uses the recorded layout (`layout_of`), never the current cluster default, so old blobs
  stay readable after k/m change.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from cairn.api_service.blob_health import NodeHealth
from cairn.blobs import BlobRef
from cairn.datanode.errors import DataNodeError
from cairn.datanode.shards import NodeStat, ShardInfo, ShardKey
from cairn.erasure import ErasureCodec, StripeLayout


class DataNodeLike(Protocol):
    """The typed data node client (`cairn.datanode.client.DataNodeClient`, contract in proto/datanode.proto)."""

    async def write_shard(
        self, key: ShardKey, pg: int, pieces: AsyncIterable[bytes], timeout: float = 60.0
    ) -> ShardInfo: ...

    def read_shard(
        self, key: ShardKey, offset: int = 0, length: int | None = None, timeout: float = 30.0
    ) -> AsyncIterator[bytes]: ...

    async def delete_shards(self, keys: Sequence[ShardKey], timeout: float = 10.0) -> int: ...

    async def list_shards(
        self, pg: int, after: ShardKey | None = None, limit: int = 1000, timeout: float = 10.0
    ) -> tuple[list[ShardInfo], ShardKey | None]: ...

    async def stat(self, timeout: float = 5.0) -> NodeStat: ...

    async def close(self) -> None: ...


ClientFactory = Callable[[str], DataNodeLike]


def _grpc_client(addr: str) -> DataNodeLike:
    # Imported here so that this module (and its unit tests) never pull in grpc.
    from cairn.datanode.client import DataNodeClient

    return DataNodeClient(addr)


class DataNodePool:
    """One data node client per address, created on first use and reused across requests, plus the
    health memory (`health`) shared by every read that uses the pool."""

    def __init__(self, factory: ClientFactory = _grpc_client, health: NodeHealth | None = None) -> None:
        self._factory = factory
        self.health = health if health is not None else NodeHealth()
        self._clients: dict[str, DataNodeLike] = {}
        self._closed = False

    def get(self, addr: str) -> DataNodeLike:
        if self._closed:
            raise RuntimeError("the data node pool is closed")
        client = self._clients.get(addr)
        if client is None:
            client = self._clients[addr] = self._factory(addr)
        return client

    async def close(self) -> None:
        """Close every client (idempotent); later `get` calls fail."""
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


@dataclass(frozen=True, slots=True)
class BlobIOConfig:
    """Tuning of the data path. Embedded in the API service's config."""

    write_quorum: int = 0
    """Shards that must be durable for a write to succeed; 0 means k + 1."""
    write_queue_stripes: int = 2
    """Stripes queued per node stream: bounds memory and lets a slow node apply back-pressure."""
    write_timeout_s: float = 3600.0
    """Deadline of one write_shard stream (a whole shard of up to a 5 GiB blob)."""
    write_stall_timeout_s: float = 30.0
    """A node that accepts no piece for this long is dropped from the write (its shard index is then
    in `WrittenBlob.missing`; the background service's repair pass writes it later)."""
    write_straggler_timeout_s: float = 5.0
    """Once the quorum is durable, how long the last streams may take before they are cancelled."""
    read_timeout_s: float = 30.0
    """Base deadline of one read_shard stream (one window of stripes); see `read_deadline`."""
    read_min_bytes_per_s: int = 8 * 1024
    """Slowest per-node pace a read stream's deadline allows for, so that a slow S3 client (whose
    back-pressure pauses the streams) still finishes a window; stalled nodes are caught by
    `read_piece_timeout_s` instead."""
    read_piece_timeout_s: float = 5.0
    """A node that delivers no piece for this long is treated as down for the rest of the read."""
    read_window_stripes: int = 16
    """Stripes read by one read_shard stream per node before the next window opens new streams."""
    read_prefetch_pieces: int = 2
    """Pieces buffered per node stream ahead of the stripe being decoded."""
    read_hedge_min_s: float = 0.05
    """Shortest hedge delay: a piece not arrived after the hedge delay makes the reader open one more
    (parity) stream for that window and take whichever k pieces come first."""
    read_hedge_p95_factor: float = 3.0
    """The hedge delay is max(read_hedge_min_s, this * the recent p95 piece latency), capped at
    `read_piece_timeout_s`."""
    read_hedge_max_streams: int = -1
    """Extra (hedge) streams per window; -1 means m."""

    def __post_init__(self) -> None:
        if self.write_quorum < 0:
            raise ValueError("write_quorum must be >= 0")
        for name in (
            "write_queue_stripes",
            "read_window_stripes",
            "read_prefetch_pieces",
            "read_min_bytes_per_s",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.read_hedge_max_streams < -1:
            raise ValueError("read_hedge_max_streams must be >= -1")
        if self.read_hedge_p95_factor < 0:
            raise ValueError("read_hedge_p95_factor must be >= 0")
        for name in (
            "write_timeout_s",
            "write_stall_timeout_s",
            "read_timeout_s",
            "read_piece_timeout_s",
            "read_hedge_min_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")

    def read_deadline(self, span_bytes: int) -> float:
        """Deadline of a read_shard stream carrying `span_bytes` bytes of one shard."""
        return self.read_timeout_s + span_bytes / self.read_min_bytes_per_s

    def hedges(self, layout: StripeLayout) -> int:
        """How many hedge streams one read window may open for `layout`."""
        return layout.m if self.read_hedge_max_streams < 0 else min(self.read_hedge_max_streams, layout.m)

    def quorum(self, layout: StripeLayout) -> int:
        """The write quorum for `layout`, between k and k + m."""
        quorum = self.write_quorum or min(layout.k + 1, layout.n)
        if not layout.k <= quorum <= layout.n:
            raise ValueError(f"write quorum {quorum} outside {layout.k}..{layout.n}")
        return quorum


DEFAULT_CONFIG = BlobIOConfig()


def layout_of(blob: BlobRef) -> StripeLayout:
    """The layout `blob` was written with: the reader decodes with it."""
    return StripeLayout(k=blob.data_shards, m=blob.parity_shards, stripe_size=blob.stripe_size)


@dataclass(frozen=True, slots=True)
class WrittenBlob:
    """The outcome of a successful write."""

    ref: BlobRef
    durable: tuple[int, ...]
    """Shard indexes acknowledged durable by their node (at least the write quorum)."""
    missing: tuple[int, ...]
    """Shard indexes that are not durable (`ClusterBlobStore` reports them to the repair queue)."""
    shard_length: int


@dataclass(frozen=True, slots=True)
class ShardFault:
    """A shard found bad while reading: `corrupt` (checksum or header) or `missing` (not found)."""

    key: ShardKey
    addr: str
    kind: Literal["corrupt", "missing"]
    pg: int = -1
    """The blob's placement group (-1: not given)."""


class BlobIOError(Exception):
    """Base of the data path's errors (mapped to 503 ServiceUnavailable at the S3 edge)."""


class WriteQuorumError(BlobIOError):
    """Fewer shards than the write quorum became durable; the blob must not be committed."""

    def __init__(
        self, blob_id: bytes, durable: Sequence[int], quorum: int, errors: dict[int, BaseException]
    ) -> None:
        self.blob_id = blob_id
        self.durable = tuple(sorted(durable))
        self.quorum = quorum
        self.errors = errors
        detail = ", ".join(f"{i}: {type(e).__name__}" for i, e in sorted(errors.items()))
        super().__init__(
            f"blob {blob_id.hex()}: {len(self.durable)} shards durable, {quorum} needed ({detail})"
        )


class ReadQuorumError(BlobIOError):
    """Fewer than k valid pieces of a stripe could be read: the bytes cannot be verified."""

    def __init__(
        self, blob_id: bytes, stripe: int, valid: int, needed: int, errors: dict[int, BaseException]
    ) -> None:
        self.blob_id = blob_id
        self.stripe = stripe
        self.valid = valid
        self.needed = needed
        self.errors = errors
        detail = ", ".join(f"{i}: {type(e).__name__}" for i, e in sorted(errors.items()))
        super().__init__(
            f"blob {blob_id.hex()} stripe {stripe}: {valid} valid pieces, {needed} needed ({detail})"
        )


class NodeStalled(DataNodeError):
    """A node accepted or delivered nothing within the stall timeout (treated as unavailable)."""

    reason = "Stalled"


class NodeLike(Protocol):
    """What the data path needs of a cluster map entry (cairn.placement.client.NodeInfo)."""

    @property
    def addr(self) -> str: ...

    @property
    def state(self) -> str: ...


def slot_addrs(
    nodes: Sequence[NodeLike | None], usable: frozenset[str] = frozenset({"up"})
) -> list[str | None]:
    """A PG's node addresses in slot order for BlobWriter/BlobReader (`ClusterMap.nodes_of(pg)`):
    None for an empty slot or a node whose state is not in `usable` (down/out nodes are skipped)."""
    return [n.addr if n is not None and n.state in usable else None for n in nodes]


@functools.lru_cache(maxsize=16)
def codec_for(layout: StripeLayout) -> ErasureCodec:
    """One shared (thread-safe) codec per layout."""
    return ErasureCodec(layout)
