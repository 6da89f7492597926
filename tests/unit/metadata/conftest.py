"""Fixtures for metadata unit tests: an in-memory store with an injected clock.

`svc` behaves like the API service's use of the metadata service: it records the write intent
of any blob the test did not record one for (and that the store has never seen) before
committing it. Tests of the intent rules themselves record intents explicitly and assert
refusals; those use blobs the store has seen, which `svc` never records intents for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence

import pytest

from cairn.blobs import BlobRef, on_nodes
from cairn.metadata.models import Checksum, ObjectAttrs, ObjectVersion, Part
from cairn.metadata.replicated import Decoded, MetadataMachine, decode_any
from cairn.metadata.service import MetadataService
from cairn.metadata.store import Store

START_MS = 1_700_000_000_000


class FakeClock:
    def __init__(self, ms: int = START_MS) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int = 1) -> None:
        self.ms += ms


@pytest.fixture(autouse=True)
def _proposed_entries_decode_to_what_was_proposed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A leader applies the commands it proposes without decoding their bytes
    (`MetadataMachine.proposing`); followers decode them. In every test here, each entry's bytes
    must decode to exactly the values the leader applied."""
    real = MetadataMachine._decoded

    def checked(self: MetadataMachine, entry: bytes) -> list[Decoded]:
        got = real(self, entry)
        assert decode_any(entry) == got, f"an entry decodes to other values than proposed: {got!r}"
        return got

    monkeypatch.setattr(MetadataMachine, "_decoded", checked)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _unknown(conn: sqlite3.Connection, blob_id: bytes) -> bool:
    return not any(
        conn.execute(f"SELECT 1 FROM {table} WHERE blob_id = ?", (blob_id,)).fetchone()
        for table in ("intents", "consumed", "gc_queue", "reclaimed")
    )


class WriterLikeService(MetadataService):
    """A MetadataService whose PUTs and parts record intents the way the API service does."""

    async def _intents(self, bucket: str, key: str, blobs: Sequence[BlobRef]) -> None:
        if not key or bucket not in {b.name for b in self.all_buckets()}:
            return  # the real call reports the error
        b = self.bucket(bucket)
        shard = self.store.shard_for(b.id, key)
        for blob in on_nodes(tuple(blobs)):  # an inline blob has no intent
            if await shard.read(_unknown, blob.blob_id):
                await self.record_write_intent(bucket, key, blob.blob_id, blob.pg)

    async def put_object(
        self,
        bucket: str,
        key: str,
        attrs: ObjectAttrs,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectVersion:
        await self._intents(bucket, key, attrs.blobs)
        return await super().put_object(bucket, key, attrs, if_match=if_match, if_none_match=if_none_match)

    async def register_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        size: int,
        etag: str,
        blobs: Sequence[BlobRef],
        checksums: Sequence[Checksum] = (),
    ) -> Part:
        await self._intents(bucket, key, blobs)
        return await super().register_part(
            bucket, key, upload_id, part_number, size=size, etag=etag, blobs=blobs, checksums=checksums
        )


@pytest.fixture
async def svc(clock: FakeClock) -> AsyncIterator[MetadataService]:
    service = WriterLikeService(Store.open(None, 4), clock_ms=clock)
    yield service
    await service.close()


@pytest.fixture
async def bucket(svc: MetadataService) -> str:
    await svc.create_bucket("bucket", "owner-1")
    return "bucket"
