"""The seam between S3 handlers and erasure-coded blob storage.

Handlers see only `BlobStore`: write a body as one blob, read a byte range of an object made
of blobs. `ClusterBlobStore` implements it over the placement map, the metadata service's
write intents and the BlobWriter/BlobReader of blob_io: it picks a fresh blob id, its PG and the
PG's nodes, records the write intent *before* any shard is sent (so GC can reclaim a write
that never commits), then streams. Unit tests use an in-memory twin of `BlobStore`.

Invariant: `write` returns only when the write quorum is durable and the body stream ended
without error (the body raises on any failed signature, digest or length check), so a caller
that commits metadata after `write` never commits unverified bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol

from cairn.api_service import blob_io
from cairn.api_service.blob_reader import BlobReader
from cairn.api_service.blob_writer import BlobWriter
from cairn.metadata.models import BlobRef

from cairn.ids import new_blob_id


class BlobStore(Protocol):
    async def write(self, bucket: str, key: str, body: AsyncIterable[bytes], part_number: int = 0) -> BlobRef:
        """Store `body` as one new blob; return its reference once durable (write quorum)."""
        ...

    def read(self, blobs: Sequence[BlobRef], start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes [start, end] (inclusive) of the object made of `blobs` in order."""
        ...


class _Placement(Protocol):
    async def cluster_map(self, min_epoch: int = 0, wait_s: float = 0.0) -> object: ...


RecordIntent = Callable[[str, str, bytes, int], Awaitable[object]]


class ClusterBlobStore:
    def __init__(self, placement: _Placement, record_intent: RecordIntent, writer: BlobWriter,
                 reader: BlobReader) -> None:  # fmt: skip
        self._placement = placement
        self._record_intent = record_intent
        self._writer = writer
        self._reader = reader

    async def _nodes(self, pg: int | None, blob_id: bytes) -> tuple[int, list[str | None]]:
        cmap = await self._placement.cluster_map()
        if pg is None:
            pg = cmap.pg_of(blob_id)  # type: ignore[attr-defined]
        nodes = cmap.nodes_of(pg)  # type: ignore[attr-defined]
        return pg, [n.addr if n is not None and n.state in ("up", "draining") else None for n in nodes]

    async def write(self, bucket: str, key: str, body: AsyncIterable[bytes], part_number: int = 0) -> BlobRef:
        blob_id = new_blob_id()
        pg, nodes = await self._nodes(None, blob_id)
        await self._record_intent(bucket, key, blob_id, pg)
        written = await self._writer.write(blob_id, pg, nodes, body)
        ref = written.ref
        return BlobRef(ref.blob_id, ref.pg, ref.size, ref.stripe_size, ref.k, ref.m, part_number)

    async def read(self, blobs: Sequence[BlobRef], start: int, end: int) -> AsyncIterator[bytes]:
        offset = 0
        for blob in blobs:
            lo, hi = max(start - offset, 0), min(end - offset, blob.size - 1)
            if lo <= hi and blob.size:
                _, nodes = await self._nodes(blob.pg, blob.blob_id)
                ref = blob_io.BlobRef(blob.blob_id, blob.pg, blob.size, blob.stripe_size,
                                      blob.data_shards, blob.parity_shards)  # fmt: skip
                async for piece in self._reader.read(ref, nodes, lo, hi):
                    yield piece
            offset += blob.size
            if offset > end:
                return
