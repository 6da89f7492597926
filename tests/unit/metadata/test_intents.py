"""Write intents guard commits: a blob is committed at most once, only for the object it was
recorded for, and never after the GC may have deleted it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cairn.blobs import BlobRef
from cairn.metadata.errors import IntentExpired
from cairn.metadata.models import ObjectAttrs
from cairn.metadata.service import MetadataService
from cairn.metadata.store import Store
from tests.unit.metadata.conftest import FakeClock
from tests.unit.metadata.helpers import attrs


@pytest.fixture
async def strict(clock: FakeClock) -> AsyncIterator[MetadataService]:
    """A plain service: nothing records intents for the test."""
    service = MetadataService(Store.open(None, 4), clock_ms=clock)
    await service.create_bucket("bkt", "owner")
    yield service
    await service.close()


async def intent(svc: MetadataService, key: str, a: ObjectAttrs, bucket: str = "bkt") -> None:
    for blob in a.blobs:
        await svc.record_write_intent(bucket, key, blob.blob_id, blob.pg)


async def test_a_commit_without_an_intent_is_refused(strict: MetadataService) -> None:
    with pytest.raises(IntentExpired):
        await strict.put_object("bkt", "k", attrs(b"no intent"))
    assert (await strict.list_objects_v2("bkt")).contents == ()


async def test_a_retried_put_returns_the_same_version(strict: MetadataService) -> None:
    a = attrs(b"A")
    await intent(strict, "k", a)
    first = await strict.put_object("bkt", "k", a)
    assert await strict.put_object("bkt", "k", a) == first


async def test_a_late_duplicate_put_never_reattaches_a_reclaimed_blob(
    strict: MetadataService, clock: FakeClock
) -> None:
    a, b = attrs(b"A"), attrs(b"B")
    await intent(strict, "k", a)
    await strict.put_object("bkt", "k", a)
    clock.advance()
    await intent(strict, "k", b)
    await strict.put_object("bkt", "k", b)  # A goes to GC
    work = await strict.list_gc_work()
    assert [w.blob_id for w in work] == [a.blobs[0].blob_id]
    await strict.ack_gc_work([a.blobs[0].blob_id])  # A's shards are deleted
    clock.advance()
    with pytest.raises(IntentExpired):
        await strict.put_object("bkt", "k", a)  # the first PutVersion arrives again
    assert (await strict.get_object("bkt", "k")).etag == b.etag
    assert await strict.list_gc_work() == ()


async def test_an_intent_of_a_deleted_bucket_does_not_commit_into_its_successor(
    strict: MetadataService,
) -> None:
    a = attrs(b"A")
    await intent(strict, "k", a)  # PUT starts
    await strict.delete_bucket("bkt")
    await strict.create_bucket("bkt", "owner")  # same name, new bucket id
    with pytest.raises(IntentExpired):
        await strict.put_object("bkt", "k", a)
    assert (await strict.list_objects_v2("bkt")).contents == ()


async def test_an_intent_of_another_key_does_not_cover_a_commit(strict: MetadataService) -> None:
    a = attrs(b"A")
    await intent(strict, "other", a)
    with pytest.raises(IntentExpired):
        await strict.put_object("bkt", "k", a)


async def test_a_replaced_part_cannot_be_registered_again(strict: MetadataService) -> None:
    upload = await strict.create_multipart_upload("bkt", "k", ObjectAttrs())
    first, second = attrs(b"part 1"), attrs(b"part 1 again")
    for a in (first, second):
        await intent(strict, "k", a)
        await strict.register_part("bkt", "k", upload.upload_id, 1, size=a.size, etag=a.etag, blobs=a.blobs)
    await strict.ack_gc_work([first.blobs[0].blob_id])
    with pytest.raises(IntentExpired):
        await strict.register_part(
            "bkt", "k", upload.upload_id, 1, size=first.size, etag=first.etag, blobs=first.blobs
        )
    parts = (await strict.list_parts("bkt", "k", upload.upload_id)).parts
    assert [p.blobs for p in parts] == [second.blobs]


async def test_an_inline_blob_needs_no_intent_and_leaves_nothing_for_gc(
    strict: MetadataService, clock: FakeClock
) -> None:
    inline = BlobRef(b"", 0, 5, 0, 0, 0, inline=b"small")
    small = ObjectAttrs(size=5, etag="e1", blobs=(inline,))
    v = await strict.put_object("bkt", "k", small)  # no intent recorded: none is needed
    assert v.blobs == (BlobRef(b"", 0, 5, 0, 0, 0),)  # the answer does not echo the bytes back
    assert (await strict.get_object("bkt", "k", v.version_id)).blobs == (inline,)
    clock.advance()
    big = attrs(b"B")
    await intent(strict, "k", big)
    await strict.put_object("bkt", "k", big)  # replaces the inline version
    clock.advance()
    await strict.put_object("bkt", "k", small)  # and back: the erasure-coded blob goes to GC
    await strict.delete_object("bkt", "k")
    assert [w.blob_id for w in await strict.list_gc_work()] == [big.blobs[0].blob_id]
    assert await strict.find_blobs([b""]) == ()
