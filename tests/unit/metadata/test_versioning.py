"""Object versions, null versions and delete markers, after the AWS S3 user guide examples
("Working with objects in a versioning-enabled bucket", "... versioning-suspended bucket",
"Working with delete markers")."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cairn.blobs import BlobRef
from cairn.metadata.errors import InvalidArgument, MethodNotAllowed, NoSuchBucket, NoSuchKey, NoSuchVersion
from cairn.metadata.models import Checksum, ChecksumType, GcReason, ObjectAttrs, VersioningState
from cairn.metadata.objects import without_inline
from cairn.metadata.service import MetadataService

from .conftest import FakeClock
from .helpers import attrs


async def versions(svc: MetadataService, bucket: str, key: str) -> list[tuple[str, bool, bool]]:
    page = await svc.list_object_versions(bucket, prefix=key)
    return [(v.version_id, v.is_delete_marker, v.is_latest) for v in page.versions if v.key == key]


async def gc_blobs(svc: MetadataService) -> dict[bytes, GcReason]:
    return {i.blob_id: i.reason for i in await svc.list_gc_work()}


async def test_unversioned_put_replaces_the_null_version_and_gcs_the_old_blob(
    svc: MetadataService, bucket: str
) -> None:
    first = await svc.put_object(bucket, "photo.gif", attrs(b"v1"))
    assert first.version_id == "null"
    second = await svc.put_object(bucket, "photo.gif", attrs(b"v2", content_type="image/gif"))
    got = await svc.get_object(bucket, "photo.gif")
    assert got.etag == second.etag and got.content_type == "image/gif" and got.is_latest
    assert await versions(svc, bucket, "photo.gif") == [("null", False, True)]
    assert (await gc_blobs(svc)) == {first.blobs[0].blob_id: GcReason.OVERWRITTEN}


async def test_unversioned_delete_removes_the_object_without_a_marker(
    svc: MetadataService, bucket: str
) -> None:
    v = await svc.put_object(bucket, "k", attrs())
    result = await svc.delete_object(bucket, "k")
    assert result.version_id is None and not result.is_delete_marker
    with pytest.raises(NoSuchKey) as err:
        await svc.get_object(bucket, "k")
    assert not err.value.is_delete_marker
    assert await versions(svc, bucket, "k") == []
    assert (await gc_blobs(svc)) == {v.blobs[0].blob_id: GcReason.DELETED}


async def test_enabled_put_keeps_every_version_newest_first(
    svc: MetadataService, bucket: str, clock: FakeClock
) -> None:
    null = await svc.put_object(bucket, "photo.gif", attrs(b"before versioning"))
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    a = await svc.put_object(bucket, "photo.gif", attrs(b"a"))
    b = await svc.put_object(bucket, "photo.gif", attrs(b"b"))  # same millisecond: still ordered
    assert a.version_id != "null" and a.version_id < b.version_id
    assert await versions(svc, bucket, "photo.gif") == [
        (b.version_id, False, True),
        (a.version_id, False, False),
        ("null", False, False),
    ]
    assert (await svc.get_object(bucket, "photo.gif")).etag == b.etag
    assert (await svc.get_object(bucket, "photo.gif", a.version_id)).etag == a.etag
    old = await svc.get_object(bucket, "photo.gif", "null")
    assert old.etag == null.etag and not old.is_latest
    assert await svc.list_gc_work() == ()


async def test_enabled_delete_adds_a_marker_and_get_says_no_such_key(
    svc: MetadataService, bucket: str
) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    v = await svc.put_object(bucket, "k", attrs())
    marker = await svc.delete_object(bucket, "k")
    assert marker.is_delete_marker and marker.version_id not in (None, "null", v.version_id)
    with pytest.raises(NoSuchKey) as err:
        await svc.get_object(bucket, "k")
    assert err.value.is_delete_marker and err.value.version_id == marker.version_id
    assert err.value.last_modified_ms > 0
    with pytest.raises(MethodNotAllowed) as err2:
        await svc.get_object(bucket, "k", marker.version_id)
    assert err2.value.is_delete_marker and err2.value.version_id == marker.version_id
    assert (await svc.get_object(bucket, "k", v.version_id)).version_id == v.version_id
    page = await svc.list_objects_v2(bucket)
    assert page.contents == ()
    assert await svc.list_gc_work() == ()  # the old version is still reachable


async def test_deleting_a_marker_by_id_restores_the_object(svc: MetadataService, bucket: str) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    v = await svc.put_object(bucket, "k", attrs())
    marker = await svc.delete_object(bucket, "k")
    result = await svc.delete_object(bucket, "k", marker.version_id)
    assert result.version_id == marker.version_id and result.is_delete_marker
    assert (await svc.get_object(bucket, "k")).version_id == v.version_id
    assert [s.key for s in (await svc.list_objects_v2(bucket)).contents] == ["k"]


async def test_delete_without_id_on_a_deleted_key_adds_another_marker(
    svc: MetadataService, bucket: str
) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    first = await svc.delete_object(bucket, "never-existed")
    second = await svc.delete_object(bucket, "never-existed")
    assert first.is_delete_marker and second.is_delete_marker
    assert [v[0] for v in await versions(svc, bucket, "never-existed")] == [
        second.version_id,
        first.version_id,
    ]


async def test_deleting_a_version_by_id_is_permanent_and_gcs_it(svc: MetadataService, bucket: str) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    a = await svc.put_object(bucket, "k", attrs(b"a"))
    b = await svc.put_object(bucket, "k", attrs(b"b"))
    result = await svc.delete_object(bucket, "k", b.version_id)
    assert result.version_id == b.version_id and not result.is_delete_marker
    current = await svc.get_object(bucket, "k")
    assert current.version_id == a.version_id and current.is_latest
    with pytest.raises(NoSuchVersion):
        await svc.get_object(bucket, "k", b.version_id)
    assert (await gc_blobs(svc)) == {b.blobs[0].blob_id: GcReason.DELETED}
    again = await svc.delete_object(bucket, "k", b.version_id)  # absent: still a success
    assert again.version_id == b.version_id and not again.is_delete_marker


async def test_suspended_put_replaces_only_the_null_version(svc: MetadataService, bucket: str) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    kept = await svc.put_object(bucket, "k", attrs(b"kept"))
    await svc.set_bucket_versioning(bucket, VersioningState.SUSPENDED)
    n1 = await svc.put_object(bucket, "k", attrs(b"n1"))
    n2 = await svc.put_object(bucket, "k", attrs(b"n2"))
    assert n1.version_id == n2.version_id == "null"
    assert await versions(svc, bucket, "k") == [("null", False, True), (kept.version_id, False, False)]
    assert (await svc.get_object(bucket, "k")).etag == n2.etag
    assert (await gc_blobs(svc)) == {n1.blobs[0].blob_id: GcReason.OVERWRITTEN}


async def test_suspended_delete_replaces_the_null_version_with_a_null_marker(
    svc: MetadataService, bucket: str
) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    kept = await svc.put_object(bucket, "k", attrs(b"kept"))
    await svc.set_bucket_versioning(bucket, VersioningState.SUSPENDED)
    null = await svc.put_object(bucket, "k", attrs(b"null"))
    result = await svc.delete_object(bucket, "k")
    assert result.version_id == "null" and result.is_delete_marker
    assert await versions(svc, bucket, "k") == [("null", True, True), (kept.version_id, False, False)]
    with pytest.raises(NoSuchKey) as err:
        await svc.get_object(bucket, "k")
    assert err.value.version_id == "null" and err.value.is_delete_marker
    assert (await gc_blobs(svc)) == {null.blobs[0].blob_id: GcReason.DELETED}
    # a PUT replaces the null marker
    again = await svc.put_object(bucket, "k", attrs(b"again"))
    assert await versions(svc, bucket, "k") == [("null", False, True), (kept.version_id, False, False)]
    assert (await svc.get_object(bucket, "k")).etag == again.etag


async def test_suspended_delete_of_a_key_with_only_versioned_rows_adds_a_null_marker(
    svc: MetadataService, bucket: str
) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    v = await svc.put_object(bucket, "k", attrs())
    await svc.set_bucket_versioning(bucket, VersioningState.SUSPENDED)
    await svc.delete_object(bucket, "k")
    assert await versions(svc, bucket, "k") == [("null", True, True), (v.version_id, False, False)]
    assert await svc.list_gc_work() == ()


async def test_metadata_is_returned_as_given(svc: MetadataService, bucket: str) -> None:
    meta = (("Name", "Ünïcode ✓"), ("x", "  spaced  "), ("empty", ""))
    put = await svc.put_object(
        bucket,
        "doc",
        attrs(
            b"body",
            content_type="text/plain; charset=utf-8",
            content_encoding="gzip",
            content_disposition='attachment; filename="a.txt"',
            content_language="de",
            cache_control="no-cache",
            expires="Wed, 21 Oct 2015 07:28:00 GMT",
            user_metadata=meta,
            tags=(("team", "a"),),
        ),
    )
    got = await svc.head_object(bucket, "doc")
    assert got == put
    assert got.user_metadata == meta and got.content_encoding == "gzip" and got.owner_id == "owner-1"


async def test_errors_for_missing_bucket_bad_version_id_and_bad_key(
    svc: MetadataService, bucket: str
) -> None:
    with pytest.raises(NoSuchBucket):
        await svc.get_object("missing", "k")
    with pytest.raises(NoSuchBucket):
        await svc.put_object("missing", "k", attrs())
    with pytest.raises(InvalidArgument):
        await svc.get_object(bucket, "k", "not-a-version")
    with pytest.raises(InvalidArgument):
        await svc.put_object(bucket, "", ObjectAttrs())
    with pytest.raises(NoSuchVersion):
        await svc.get_object(bucket, "k", "null")


async def test_retried_put_with_the_same_blob_returns_the_committed_version(
    svc: MetadataService, bucket: str
) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    a = attrs(b"once")
    first = await svc.put_object(bucket, "k", a)
    retry = await svc.put_object(bucket, "k", a)
    assert retry.version_id == first.version_id
    assert len(await versions(svc, bucket, "k")) == 1


async def test_the_version_a_put_answers_is_the_version_stored(
    svc: MetadataService, bucket: str, clock: FakeClock
) -> None:
    """A PUT answers the version it inserted without reading the row back: every field must be
    what a GET of that version then reads (inline bytes left out), in an unversioned bucket
    and in a versioned one whose clock stands still (the version id is then the successor of
    the current one, not the one issued)."""
    inline = BlobRef(b"", 0, 5, 0, 0, 0, inline=b"hello")
    rich = ObjectAttrs(
        size=5,
        etag="5d41402abc4b2a76b9719d911017c592",
        content_type="text/plain",
        content_encoding="gzip",
        content_disposition="inline",
        content_language="en",
        cache_control="no-cache",
        expires="Thu, 01 Dec 2033 16:00:00 GMT",
        website_redirect_location="/other",
        storage_class="STANDARD_IA",
        user_metadata=(("a", "1"), ("b", "é")),
        tags=(("t", "v"),),
        checksums=(Checksum("CRC32", b"\x01\x02\x03\x04", ChecksumType.FULL_OBJECT),),
        blobs=(inline,),
        owner_id="owner-1",
        acl="private-acl",
    )
    answered = [await svc.put_object(bucket, "k", rich)]
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    for _ in range(2):
        answered.append(await svc.put_object(bucket, "k", rich))
    answered.append(await svc.put_object(bucket, "other", attrs(b"x")))
    assert answered[1].version_id != answered[2].version_id
    for put in answered:
        stored = await svc.get_object(bucket, put.key, put.version_id)
        assert put == without_inline(replace(stored, is_latest=True))
        assert stored.blobs[0].inline in (b"hello", b"")
