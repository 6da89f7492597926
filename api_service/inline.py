"""Small objects stored inline: a body up to `max_bytes` is kept in the version row itself.

`InlineBlobStore` wraps any `BlobStore`. A write of a single PUT (part number 0: multipart
parts are never inline) reads the body until it ends or passes `max_bytes`: a body that ended
within it becomes an inline `BlobRef` holding the bytes (no blob id, no placement group, no
write intent, no shard RPC), committed with the version in one replicated metadata command; a
longer one is handed, with the bytes already read, to the wrapped store as usual. Reads serve
inline blobs from the reference and the others from the wrapped store.

Everything above the store is unchanged: the handlers hash and verify the body before it gets
here (ETag, checksums), SSE encrypts it before (an inline blob holds ciphertext and its sealed
key like any blob), ranges, copies and UploadPartCopy read through `read`. Below it, the
metadata service gives inline blobs no intent, no blob reference and no GC entry, so GC and
repair have nothing to do for them; their durability is the metadata's (Raft-replicated).

`max_bytes` is ApiConfig.inline_max_bytes (0 turns inlining off); it counts the stored bytes,
which for an encrypted body include the cipher's per-segment overhead.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence

from cairn.blobs import BlobRef

from .data_path import BlobStore


class InlineBytesMissing(Exception):
    """An inline blob reference without its bytes: never served (a 500, never wrong bytes)."""


async def _chain(head: Sequence[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for piece in head:
        yield piece
    async for piece in rest:
        yield piece


class InlineBlobStore:
    """A `BlobStore` keeping single-PUT bodies of at most `max_bytes` inline."""

    def __init__(self, inner: BlobStore, max_bytes: int) -> None:
        self.inner = inner
        self.max_bytes = max_bytes

    async def write(self, bucket: str, key: str, body: AsyncIterable[bytes], part_number: int = 0) -> BlobRef:
        if part_number or self.max_bytes <= 0:
            return await self.inner.write(bucket, key, body, part_number)
        stream = aiter(body)
        head: list[bytes] = []
        size = 0
        async for piece in stream:
            head.append(bytes(piece))
            size += len(piece)
            if size > self.max_bytes:
                return await self.inner.write(bucket, key, _chain(head, stream), part_number)
        data = b"".join(head)
        return BlobRef(b"", 0, len(data), 0, 0, 0, inline=data)

    async def read(self, blobs: Sequence[BlobRef], start: int, end: int) -> AsyncIterator[bytes]:
        if not any(b.is_inline for b in blobs):
            async for piece in self.inner.read(blobs, start, end):
                yield piece
            return
        offset = 0
        for blob in blobs:
            lo, hi = max(start - offset, 0), min(end - offset, blob.size - 1)
            if lo <= hi:
                if blob.is_inline:
                    if len(blob.inline) != blob.size:  # a PUT's answer (objects.without_inline), not a read's
                        raise InlineBytesMissing(
                            f"an inline blob of {blob.size} bytes holds {len(blob.inline)}"
                        )
                    yield blob.inline[lo : hi + 1]
                else:
                    async for piece in self.inner.read((blob,), lo, hi):
                        yield piece
            offset += blob.size
            if offset > end:
                return
