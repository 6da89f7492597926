"""Bucket rules: naming, ownership conflicts, emptiness on delete, versioning transitions."""

from __future__ import annotations

import pytest

from cairn.metadata.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    InvalidArgument,
    InvalidBucketName,
    NoSuchBucket,
    NoSuchBucketConfig,
    NoSuchBucketPolicy,
)
from cairn.metadata.models import ObjectAttrs, VersioningState
from cairn.metadata.service import MetadataService

from .helpers import attrs
from .test_multipart import MIB5, upload_parts


async def test_create_head_list_and_delete(svc: MetadataService) -> None:
    created = await svc.create_bucket("photos", "alice")
    assert created.versioning is VersioningState.UNVERSIONED and created.region == "us-east-1"
    assert await svc.get_bucket("photos") == created
    await svc.create_bucket("logs", "bob")
    assert [b.name for b in await svc.list_buckets()] == ["logs", "photos"]
    assert [b.name for b in await svc.list_buckets("alice")] == ["photos"]
    await svc.delete_bucket("photos")
    with pytest.raises(NoSuchBucket):
        await svc.get_bucket("photos")
    with pytest.raises(NoSuchBucket):
        await svc.delete_bucket("photos")


async def test_name_conflicts_depend_on_the_owner(svc: MetadataService) -> None:
    await svc.create_bucket("shared", "alice")
    with pytest.raises(BucketAlreadyOwnedByYou):
        await svc.create_bucket("shared", "alice")
    with pytest.raises(BucketAlreadyExists):
        await svc.create_bucket("shared", "bob")


async def test_invalid_name_is_rejected_and_nothing_is_created(svc: MetadataService) -> None:
    with pytest.raises(InvalidBucketName):
        await svc.create_bucket("Bad_Name", "alice")
    assert await svc.list_buckets() == ()


async def test_delete_refuses_while_an_object_remains(svc: MetadataService, bucket: str) -> None:
    await svc.put_object(bucket, "k", attrs())
    with pytest.raises(BucketNotEmpty):
        await svc.delete_bucket(bucket)
    await svc.delete_object(bucket, "k")
    await svc.delete_bucket(bucket)


async def test_delete_refuses_while_a_delete_marker_or_old_version_remains(
    svc: MetadataService, bucket: str
) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    v = await svc.put_object(bucket, "k", attrs())
    marker = await svc.delete_object(bucket, "k")
    with pytest.raises(BucketNotEmpty):
        await svc.delete_bucket(bucket)
    await svc.delete_object(bucket, "k", v.version_id)
    with pytest.raises(BucketNotEmpty):  # only the marker is left
        await svc.delete_bucket(bucket)
    await svc.delete_object(bucket, "k", marker.version_id)
    await svc.delete_bucket(bucket)


async def test_delete_takes_uploads_in_progress_with_it(svc: MetadataService, bucket: str) -> None:
    """As S3 does: uploads in progress do not keep a bucket; their parts go to GC."""
    _, _, blobs = await upload_parts(svc, bucket, "big", [MIB5, 100])
    await svc.create_multipart_upload(bucket, "empty", ObjectAttrs())
    await svc.delete_bucket(bucket)
    assert {w.blob_id for w in await svc.list_gc_work()} == {b.blob_id for b in blobs}
    await svc.create_bucket(bucket, "owner-1")
    assert (await svc.list_multipart_uploads(bucket)).uploads == ()


async def test_recreated_bucket_starts_empty(svc: MetadataService, bucket: str) -> None:
    await svc.delete_bucket(bucket)
    await svc.create_bucket(bucket, "owner-1")
    page = await svc.list_objects_v2(bucket)
    assert page.contents == ()


async def test_versioning_never_returns_to_unversioned(svc: MetadataService, bucket: str) -> None:
    assert (
        await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    ).versioning is VersioningState.ENABLED
    assert (
        await svc.set_bucket_versioning(bucket, VersioningState.SUSPENDED)
    ).versioning is VersioningState.SUSPENDED
    assert (
        await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    ).versioning is VersioningState.ENABLED
    with pytest.raises(InvalidArgument):
        await svc.set_bucket_versioning(bucket, VersioningState.UNVERSIONED)
    assert (await svc.get_bucket(bucket)).versioning is VersioningState.ENABLED


async def test_bucket_policy_is_stored_verbatim(svc: MetadataService, bucket: str) -> None:
    with pytest.raises(NoSuchBucketPolicy):
        await svc.get_bucket_policy(bucket)
    doc = '{ "Version": "2012-10-17",  "Statement": [] }'
    await svc.put_bucket_policy(bucket, doc)
    assert (await svc.get_bucket_policy(bucket)).document == doc
    await svc.delete_bucket_policy(bucket)
    with pytest.raises(NoSuchBucketPolicy):
        await svc.get_bucket_policy(bucket)
    with pytest.raises(NoSuchBucket):
        await svc.put_bucket_policy("missing", doc)


async def test_bucket_configs_are_stored_per_kind_and_dropped_with_the_bucket(
    svc: MetadataService, bucket: str
) -> None:
    with pytest.raises(NoSuchBucketConfig):
        await svc.get_bucket_config(bucket, "cors")
    await svc.put_bucket_config(bucket, "cors", "<A> 1 </A>")
    await svc.put_bucket_config(bucket, "lifecycle", "<B/>")
    assert (await svc.get_bucket_config(bucket, "cors")).document == "<A> 1 </A>"
    await svc.put_bucket_config(bucket, "cors", "<A>2</A>")  # replaces
    assert (await svc.get_bucket_config(bucket, "cors")).document == "<A>2</A>"
    assert [(b.bucket, b.document) for b in await svc.list_bucket_configs("lifecycle")] == [(bucket, "<B/>")]
    await svc.delete_bucket_config(bucket, "cors")
    await svc.delete_bucket_config(bucket, "cors")  # idempotent
    with pytest.raises(NoSuchBucketConfig):
        await svc.get_bucket_config(bucket, "cors")
    assert (await svc.get_bucket_config(bucket, "lifecycle")).document == "<B/>"
    with pytest.raises(InvalidArgument):
        await svc.put_bucket_config(bucket, "No Such Kind", "x")
    with pytest.raises(NoSuchBucket):
        await svc.put_bucket_config("missing", "cors", "x")
    # a bucket created again under the same name starts without the old one's documents
    await svc.delete_bucket(bucket)
    await svc.create_bucket(bucket, "owner-1")
    assert await svc.list_bucket_configs("lifecycle") == ()
    with pytest.raises(NoSuchBucketConfig):
        await svc.get_bucket_config(bucket, "lifecycle")


async def test_buckets_survive_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cairn.metadata.store import Store

    first = MetadataService(Store.open(tmp_path, 2))
    await first.create_bucket("kept", "alice")
    hello = attrs(b"hello")
    await first.record_write_intent("kept", "k", hello.blobs[0].blob_id, hello.blobs[0].pg)
    await first.put_object("kept", "k", hello)
    await first.close()
    second = MetadataService(Store.open(tmp_path, 2))
    assert (await second.get_bucket("kept")).owner_id == "alice"
    assert (await second.get_object("kept", "k")).size == 5
    await second.close()
    with pytest.raises(RuntimeError):
        Store.open(tmp_path, 3)
