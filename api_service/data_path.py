"""The seam between S3 handlers and erasure-coded blob storage.

Handlers see only `BlobStore`: write a body as one blob, read a byte range of an object made
of blobs. `ClusterBlobStore` implements it over the placement map, the metadata service's
write intents and the BlobWriter/BlobReader of blob_io: it picks a fresh blob id, its PG and the
PG's nodes, records the write intent *before* any shard is sent (so GC can reclaim a write
that never commits), then streams. Unit tests use an in-memory twin of `BlobStore`.

Writes go to the PG's *target* slots. Reads go, per slot, to the map's `read_nodes`: the slot's
verified holders, then its target (a slot mid-migration is read from its old holder, and a blob
written since the move from the new target), so a migration never fails a read.

A write whose cached map leaves fewer usable target slots than the write quorum fetches the
map again (unless it is under `CURRENT_MAP_S` old) before it gives up: nodes that came back are
written to at once, not a TTL later.

The shards a write could not make durable (it needs the quorum, not every shard) are handed
to `report` (the production app's RepairReporter: the metadata service's repair queue).

Invariant: `write` returns only when the write quorum is durable and the body stream ended
without error (the body raises on any failed signature, digest or length check), so a caller
that commits metadata after `write` never commits unverified bytes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from cairn.api_service.blob_io import slot_addrs
from cairn.api_service.blob_reader import BlobReader
from cairn.api_service.blob_writer import BlobWriter
from cairn.blobs import BlobRef
from cairn.ids import new_blob_id
from cairn.metadata.models import RepairReport


class BlobStore(Protocol):
    async def write(self, bucket: str, key: str, body: AsyncIterable[bytes], part_number: int = 0) -> BlobRef:
        """Store `body` as one new blob; return its reference once durable (write quorum)."""
        ...

    def read(self, blobs: Sequence[BlobRef], start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes [start, end] (inclusive) of the object made of `blobs` in order."""
        ...


class _Placement(Protocol):
    async def cluster_map(self, min_epoch: int = 0, wait_s: float = 0.0) -> object: ...


_USABLE = frozenset({"up", "draining"})
#: How recent a map is current enough for a write the cached map cannot place (see _targets).
CURRENT_MAP_S = 0.05

RecordIntent = Callable[[str, str, bytes, int], Awaitable[object]]


class ClusterBlobStore:
    """BlobStore over the cluster: the placement map (re-read at most every `map_ttl_s`, by one call at a time), write
    intents in the metadata service, and the erasure-coded BlobWriter/BlobReader."""

    def __init__(
        self,
        placement: _Placement,
        record_intent: RecordIntent,
        writer: BlobWriter,
        reader: BlobReader,
        map_ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        report: Callable[[RepairReport], None] | None = None,
    ) -> None:
        self._placement = placement
        self._report = report
        self._record_intent = record_intent
        self._writer = writer
        self._reader = reader
        self._map_ttl = map_ttl_s
        self._clock = clock
        self._map: Any = None
        self._map_at = 0.0
        self._refresh: asyncio.Future[Any] | None = None

    async def _cluster_map(self, max_age_s: float | None = None) -> Any:
        """The map, fetched again once older than `max_age_s` (default `map_ttl_s`): by one call
        that every request arriving meanwhile waits for (not one call per request)."""
        max_age = self._map_ttl if max_age_s is None else max_age_s
        if self._map is not None and self._clock() - self._map_at <= max_age:
            return self._map
        if self._refresh is None:
            self._refresh = asyncio.ensure_future(self._fetch_map())
        return await asyncio.shield(self._refresh)  # a cancelled request leaves the fetch running

    async def _fetch_map(self) -> Any:
        try:
            now = self._clock()
            self._map = await self._placement.cluster_map()
            self._map_at = now
            return self._map
        finally:
            self._refresh = None

    async def _targets(self, blob_id: bytes) -> tuple[int, list[str | None]]:
        cmap = await self._cluster_map()
        pg = cmap.pg_of(blob_id)
        nodes = slot_addrs(cmap.nodes_of(pg), _USABLE)
        if sum(addr is not None for addr in nodes) < self._writer.quorum:
            # Too few usable slots to write: the map may be older than a node's return. A map
            # fetched within CURRENT_MAP_S counts as current (no second fetch for the request
            # that just fetched it, at most 20 a second while nodes really are down).
            cmap = await self._cluster_map(max_age_s=CURRENT_MAP_S)
            nodes = slot_addrs(cmap.nodes_of(pg), _USABLE)
        return pg, nodes

    async def _sources(self, pg: int) -> tuple[list[str | None], dict[int, list[str]]]:
        """Per slot the first node to read from, and the ones to try after it (`read_nodes`)."""
        cmap = await self._cluster_map()
        slots = cmap.read_nodes(pg)
        first = [nodes[0].addr if nodes else None for nodes in slots]
        return first, {
            slot: [n.addr for n in nodes[1:]] for slot, nodes in enumerate(slots) if len(nodes) > 1
        }

    async def write(self, bucket: str, key: str, body: AsyncIterable[bytes], part_number: int = 0) -> BlobRef:
        blob_id = new_blob_id()
        pg, nodes = await self._targets(blob_id)
        await self._record_intent(bucket, key, blob_id, pg)
        written = await self._writer.write(blob_id, pg, nodes, body)
        if self._report is not None:
            for index in written.missing:
                self._report(RepairReport(blob_id, index, pg, "missing", "put", nodes[index] or ""))
        return replace(written.ref, part_number=part_number)

    async def read(self, blobs: Sequence[BlobRef], start: int, end: int) -> AsyncIterator[bytes]:
        offset = 0
        for blob in blobs:
            lo, hi = max(start - offset, 0), min(end - offset, blob.size - 1)
            if lo <= hi and blob.size:
                nodes, fallbacks = await self._sources(blob.pg)
                async for piece in self._reader.read(blob, nodes, lo, hi, fallbacks):
                    yield piece
            offset += blob.size
            if offset > end:
                return
