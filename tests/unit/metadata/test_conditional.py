"""Conditional writes (If-Match / If-None-Match: *) and write intents."""

from __future__ import annotations

import asyncio

import pytest

from cairn.metadata.errors import IntentExpired, NoSuchKey, PreconditionFailed
from cairn.metadata.models import CompletedPart, GcReason, ObjectAttrs, VersioningState
from cairn.metadata.service import MetadataService

from .conftest import FakeClock
from .helpers import attrs, blob


async def test_if_none_match_creates_only_when_absent(svc: MetadataService, bucket: str) -> None:
    await svc.put_object(bucket, "k", attrs(b"1"), if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await svc.put_object(bucket, "k", attrs(b"2"), if_none_match=True)
    assert (await svc.get_object(bucket, "k")).size == 1


async def test_if_none_match_succeeds_over_a_delete_marker(svc: MetadataService, bucket: str) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    await svc.put_object(bucket, "k", attrs(b"1"))
    await svc.delete_object(bucket, "k")
    await svc.put_object(bucket, "k", attrs(b"22"), if_none_match=True)
    assert (await svc.get_object(bucket, "k")).size == 2


async def test_if_match_compares_the_current_etag(svc: MetadataService, bucket: str) -> None:
    with pytest.raises(NoSuchKey):
        await svc.put_object(bucket, "k", attrs(b"1"), if_match='"abc"')
    first = await svc.put_object(bucket, "k", attrs(b"1"))
    with pytest.raises(PreconditionFailed):
        await svc.put_object(bucket, "k", attrs(b"2"), if_match="0" * 32)
    second = await svc.put_object(bucket, "k", attrs(b"22"), if_match=f'"{first.etag}"')
    assert (await svc.get_object(bucket, "k")).etag == second.etag


async def test_concurrent_conditional_writers_exactly_one_wins(svc: MetadataService, bucket: str) -> None:
    async def attempt(i: int) -> bool:
        try:
            await svc.put_object(bucket, "race", attrs(str(i).encode()), if_none_match=True)
        except PreconditionFailed:
            return False
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(20)))
    assert results.count(True) == 1
    current = await svc.put_object(bucket, "seed", attrs(b"seed"))

    async def swap(i: int) -> bool:
        try:
            await svc.put_object(bucket, "seed", attrs(f"new{i}".encode()), if_match=current.etag)
        except PreconditionFailed:
            return False
        return True

    assert (await asyncio.gather(*(swap(i) for i in range(20)))).count(True) == 1


async def test_conditional_complete_multipart(svc: MetadataService, bucket: str) -> None:
    await svc.put_object(bucket, "k", attrs(b"exists"))
    upload = await svc.create_multipart_upload(bucket, "k", ObjectAttrs())
    etag = "0" * 32
    await svc.register_part(bucket, "k", upload.upload_id, 1, size=1, etag=etag, blobs=[blob()])
    with pytest.raises(PreconditionFailed):
        await svc.complete_multipart_upload(
            bucket, "k", upload.upload_id, [CompletedPart(1, etag)], if_none_match=True
        )
    assert len((await svc.list_parts(bucket, "k", upload.upload_id)).parts) == 1


async def test_expired_intents_become_gc_work_and_commits_clear_them(
    svc: MetadataService, bucket: str, clock: FakeClock
) -> None:
    committed, abandoned = blob(), blob()
    await svc.record_write_intent(bucket, "k", committed.blob_id, committed.pg, ttl_s=60)
    intent = await svc.record_write_intent(bucket, "k2", abandoned.blob_id, abandoned.pg, ttl_s=60)
    assert intent.expires_ms == clock.ms + 60_000
    await svc.put_object(bucket, "k", ObjectAttrs(size=1, etag="e", blobs=(committed,)))
    assert await svc.list_gc_work() == ()  # not expired yet
    clock.advance(60_000)
    work = await svc.list_gc_work()
    assert [(w.blob_id, w.reason) for w in work] == [(abandoned.blob_id, GcReason.INTENT_EXPIRED)]
    assert await svc.ack_gc_work([abandoned.blob_id]) == 1
    assert await svc.list_gc_work() == ()
    assert await svc.ack_gc_work([abandoned.blob_id]) == 0


async def test_gc_work_is_oldest_first_and_limited(
    svc: MetadataService, bucket: str, clock: FakeClock
) -> None:
    made = []
    for i in range(6):
        v = await svc.put_object(bucket, f"k{i}", attrs())
        clock.advance(10)
        await svc.delete_object(bucket, f"k{i}")
        made.append(v.blobs[0].blob_id)
    work = await svc.list_gc_work(limit=4)
    assert [w.blob_id for w in work] == made[:4]


async def test_a_commit_after_the_intent_expired_is_refused(
    svc: MetadataService, bucket: str, clock: FakeClock
) -> None:
    late, reclaimed = blob(), blob()
    await svc.record_write_intent(bucket, "k", late.blob_id, late.pg, ttl_s=1)
    await svc.record_write_intent(bucket, "k", reclaimed.blob_id, reclaimed.pg, ttl_s=1)
    clock.advance(1_000)
    with pytest.raises(IntentExpired):  # expired, GC may be deleting its shards right now
        await svc.put_object(bucket, "k", ObjectAttrs(size=1, etag="e", blobs=(late,)))
    assert await svc.ack_gc_work([reclaimed.blob_id]) == 1
    upload = await svc.create_multipart_upload(bucket, "k", ObjectAttrs())
    with pytest.raises(IntentExpired):  # reclaimed by the GC: never let a version point at it
        await svc.register_part(bucket, "k", upload.upload_id, 1, size=1, etag="e", blobs=[reclaimed])
    with pytest.raises(NoSuchKey):
        await svc.get_object(bucket, "k")
