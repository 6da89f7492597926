"""Multipart uploads: the CompleteMultipartUpload rules of the AWS API reference."""

from __future__ import annotations

import hashlib
import zlib

import pytest

from cairn.blobs import BlobRef
from cairn.metadata.errors import (
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    MalformedXML,
    NoSuchUpload,
)
from cairn.metadata.models import (
    MIN_PART_SIZE,
    Checksum,
    ChecksumType,
    CompletedPart,
    GcReason,
    ObjectAttrs,
    VersioningState,
)
from cairn.metadata.service import MetadataService
from tests.unit.metadata.helpers import blob

MIB5 = MIN_PART_SIZE


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


async def upload_parts(
    svc: MetadataService, bucket: str, key: str, sizes: list[int], **create: object
) -> tuple[str, list[CompletedPart], list[BlobRef]]:
    upload = await svc.create_multipart_upload(bucket, key, ObjectAttrs(content_type="video/mp4"), **create)  # type: ignore[arg-type]
    listed, blobs = [], []
    for number, size in enumerate(sizes, start=1):
        ref = blob(size, pg=number)
        etag = md5(f"part {number}".encode())
        crc = zlib.crc32(f"part {number}".encode()).to_bytes(4, "big")
        await svc.register_part(
            bucket,
            key,
            upload.upload_id,
            number,
            size=size,
            etag=etag,
            blobs=[ref],
            checksums=[Checksum("CRC32", crc, ChecksumType.COMPOSITE)],
        )
        listed.append(CompletedPart(number, f'"{etag}"'))
        blobs.append(ref)
    return upload.upload_id, listed, blobs


async def test_complete_builds_the_object_with_the_multipart_etag(svc: MetadataService, bucket: str) -> None:
    upload_id, listed, blobs = await upload_parts(svc, bucket, "movie", [MIB5, MIB5, 100])
    version = await svc.complete_multipart_upload(bucket, "movie", upload_id, listed)
    binary = b"".join(bytes.fromhex(md5(f"part {n}".encode())) for n in (1, 2, 3))
    assert version.etag == hashlib.md5(binary).hexdigest() + "-3"
    assert version.size == 2 * MIB5 + 100 and version.parts_count == 3
    assert version.part_sizes == (MIB5, MIB5, 100)
    assert [b.blob_id for b in version.blobs] == [b.blob_id for b in blobs]
    assert [b.part_number for b in version.blobs] == [1, 2, 3]
    assert version.content_type == "video/mp4" and version.owner_id == "owner-1"
    assert (await svc.get_object(bucket, "movie")).etag == version.etag
    with pytest.raises(NoSuchUpload):
        await svc.list_parts(bucket, "movie", upload_id)
    assert (await svc.list_multipart_uploads(bucket)).uploads == ()


async def test_completing_twice_with_the_same_list_returns_the_same_version(
    svc: MetadataService, bucket: str
) -> None:
    await svc.set_bucket_versioning(bucket, VersioningState.ENABLED)
    upload_id, listed, _ = await upload_parts(svc, bucket, "k", [MIB5, 1])
    first = await svc.complete_multipart_upload(bucket, "k", upload_id, listed)
    second = await svc.complete_multipart_upload(bucket, "k", upload_id, listed)
    assert second == first
    assert len((await svc.list_object_versions(bucket)).versions) == 1
    with pytest.raises(NoSuchUpload):
        await svc.complete_multipart_upload(bucket, "k", upload_id, listed[:1])


@pytest.mark.parametrize(
    ("listed", "error"),
    [
        ([], MalformedXML),
        ([CompletedPart(0, "x")], InvalidArgument),
        ([CompletedPart(10001, "x")], InvalidArgument),
        ([CompletedPart(2, md5(b"part 2")), CompletedPart(1, md5(b"part 1"))], InvalidPartOrder),
        ([CompletedPart(1, md5(b"part 1")), CompletedPart(1, md5(b"part 1"))], InvalidPartOrder),
        ([CompletedPart(1, md5(b"part 1")), CompletedPart(4, md5(b"part 4"))], InvalidPart),
        ([CompletedPart(1, md5(b"wrong"))], InvalidPart),
        ([CompletedPart(2, md5(b"part 2")), CompletedPart(3, md5(b"part 3"))], EntityTooSmall),
    ],
)
async def test_completion_validation(
    svc: MetadataService, bucket: str, listed: list[CompletedPart], error: type
) -> None:
    upload_id, _, _ = await upload_parts(svc, bucket, "k", [MIB5, MIB5 - 1, 10])
    with pytest.raises(error):
        await svc.complete_multipart_upload(bucket, "k", upload_id, listed)
    # nothing changed: the upload is still there with all its parts
    assert len((await svc.list_parts(bucket, "k", upload_id)).parts) == 3


async def test_a_part_checksum_that_does_not_match_is_an_invalid_part(
    svc: MetadataService, bucket: str
) -> None:
    upload_id, listed, _ = await upload_parts(svc, bucket, "k", [1])
    bad = [CompletedPart(1, listed[0].etag, (Checksum("CRC32", b"\0\0\0\0"),))]
    with pytest.raises(InvalidPart):
        await svc.complete_multipart_upload(bucket, "k", upload_id, bad)


async def test_composite_checksum_is_the_checksum_of_part_checksums(
    svc: MetadataService, bucket: str
) -> None:
    upload_id, listed, _ = await upload_parts(svc, bucket, "k", [MIB5, 7], checksum_algorithm="CRC32")
    version = await svc.complete_multipart_upload(bucket, "k", upload_id, listed)
    raw = b"".join(zlib.crc32(f"part {n}".encode()).to_bytes(4, "big") for n in (1, 2))
    assert version.checksums == (
        Checksum("CRC32", zlib.crc32(raw).to_bytes(4, "big"), ChecksumType.COMPOSITE),
    )


async def test_unused_and_replaced_parts_go_to_gc(svc: MetadataService, bucket: str) -> None:
    upload_id, listed, blobs = await upload_parts(svc, bucket, "k", [MIB5, MIB5, 1])
    replacement = blob(MIB5, pg=9)
    await svc.register_part(bucket, "k", upload_id, 2, size=MIB5, etag=md5(b"part 2"), blobs=[replacement])
    await svc.complete_multipart_upload(bucket, "k", upload_id, [listed[0], listed[1]])
    gc = {i.blob_id: i.reason for i in await svc.list_gc_work()}
    assert gc == {blobs[1].blob_id: GcReason.PART_REPLACED, blobs[2].blob_id: GcReason.PART_UNUSED}
    assert [b.blob_id for b in (await svc.get_object(bucket, "k")).blobs] == [
        blobs[0].blob_id,
        replacement.blob_id,
    ]


async def test_abort_sends_parts_to_gc_and_forgets_the_upload(svc: MetadataService, bucket: str) -> None:
    upload_id, listed, blobs = await upload_parts(svc, bucket, "k", [MIB5, 1])
    await svc.abort_multipart_upload(bucket, "k", upload_id)
    assert {i.blob_id for i in await svc.list_gc_work()} == {b.blob_id for b in blobs}
    assert all(i.reason is GcReason.UPLOAD_ABORTED for i in await svc.list_gc_work())
    for call in (
        svc.abort_multipart_upload(bucket, "k", upload_id),
        svc.complete_multipart_upload(bucket, "k", upload_id, listed),
        svc.list_parts(bucket, "k", upload_id),
        svc.register_part(bucket, "k", upload_id, 1, size=1, etag=md5(b"x"), blobs=[]),
    ):
        with pytest.raises(NoSuchUpload):
            await call


async def test_list_parts_pagination(svc: MetadataService, bucket: str) -> None:
    upload_id, _, _ = await upload_parts(svc, bucket, "k", [1] * 7)
    seen, marker = [], 0
    while True:
        page = await svc.list_parts(bucket, "k", upload_id, max_parts=3, part_number_marker=marker)
        seen += [p.part_number for p in page.parts]
        assert page.upload.upload_id == upload_id
        if not page.is_truncated:
            break
        marker = page.next_part_number_marker
    assert seen == list(range(1, 8))
    with pytest.raises(InvalidArgument):
        await svc.register_part(bucket, "k", upload_id, 10001, size=1, etag=md5(b"x"), blobs=[])


async def test_list_uploads_orders_by_key_then_initiation_with_markers(
    svc: MetadataService, bucket: str
) -> None:
    made = []
    for key in ("b", "a", "b", "dir/x", "dir/y", "c"):
        made.append((key, (await svc.create_multipart_upload(bucket, key, ObjectAttrs())).upload_id))
    expected = sorted(made, key=lambda kv: (kv[0].encode(), kv[1]))
    got, key_marker, id_marker = [], "", ""
    while True:
        page = await svc.list_multipart_uploads(
            bucket, max_uploads=2, key_marker=key_marker, upload_id_marker=id_marker
        )
        got += [(u.key, u.upload_id) for u in page.uploads]
        if not page.is_truncated:
            break
        key_marker, id_marker = page.next_key_marker or "", page.next_upload_id_marker or ""
    assert got == expected
    page = await svc.list_multipart_uploads(bucket, delimiter="/")
    assert page.common_prefixes == ("dir/",) and [u.key for u in page.uploads] == ["a", "b", "b", "c"]
    page = await svc.list_multipart_uploads(bucket, prefix="dir/")
    assert [u.key for u in page.uploads] == ["dir/x", "dir/y"]


async def test_completing_again_after_the_null_version_was_replaced_returns_the_upload_result(
    svc: MetadataService, bucket: str
) -> None:
    upload_id, listed, _ = await upload_parts(svc, bucket, "k", [MIB5, 1])
    first = await svc.complete_multipart_upload(bucket, "k", upload_id, listed)
    assert (await svc.complete_multipart_upload(bucket, "k", upload_id, listed)) == first
    newer = await svc.put_object(bucket, "k", ObjectAttrs(size=0, etag=md5(b"")))
    assert newer.version_id == first.version_id == "null"
    again = await svc.complete_multipart_upload(bucket, "k", upload_id, listed)
    assert again.etag == first.etag != newer.etag
    assert again.size == first.size and again.blobs == first.blobs
    assert (await svc.get_object(bucket, "k")).etag == newer.etag


async def test_find_blobs_knows_intents_open_parts_versions_and_queued_blobs(
    svc: MetadataService, bucket: str
) -> None:
    """What the orphan sweep asks: a blob is known from its write intent until it is reclaimed."""
    pending = blob(7)
    await svc.record_write_intent(bucket, "in-flight", pending.blob_id, pending.pg)
    upload_id, listed, parts = await upload_parts(svc, bucket, "k", [MIB5, 1])
    stranger = blob(3)
    ids = [stranger.blob_id, pending.blob_id, parts[0].blob_id, parts[1].blob_id]
    assert await svc.find_blobs(ids) == tuple(ids[1:])  # in the order asked, the stranger left out
    await svc.complete_multipart_upload(bucket, "k", upload_id, listed)
    assert await svc.find_blobs(ids) == tuple(ids[1:])  # the parts are the version's blobs now
    await svc.delete_object(bucket, "k")
    assert await svc.find_blobs(ids) == tuple(ids[1:])  # queued for GC: still the GC's to delete
    await svc.ack_gc_work([parts[0].blob_id, parts[1].blob_id])
    assert await svc.find_blobs(ids) == (pending.blob_id,)
