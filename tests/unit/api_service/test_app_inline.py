"""Inline small objects (api_service/inline.py): a body up to the threshold lives in the version
row, never touches the blob store, and behaves like any other object (ETag, checksums, ranges,
conditions, versions, copies, UploadPartCopy, SSE); GC gets nothing to reclaim for it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cairn.api_service.config import ApiConfig
from cairn.api_service.inline import InlineBlobStore, InlineBytesMissing
from cairn.blobs import BlobRef

from .harness import Endpoint, serve

LIMIT = 1024


@pytest.fixture(scope="module")
def s3e() -> Iterator[Endpoint]:
    with serve(ApiConfig(inline_max_bytes=LIMIT)) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def s3(s3e: Endpoint) -> Any:
    return s3e.client()


@pytest.fixture
def bucket(s3: Any) -> str:
    name = "inl-" + os.urandom(4).hex()
    s3.create_bucket(Bucket=name)
    return name


def _version(s3e: Endpoint, bucket: str, key: str, version_id: str | None = None) -> Any:
    return s3e.run(s3e.metadata.get_object(bucket, key, version_id))


def test_small_body_is_stored_inline_without_the_blob_store(s3: Any, s3e: Endpoint, bucket: str) -> None:
    body = os.urandom(LIMIT)
    s3e.blobs.fail_writes = True  # the data nodes are unreachable: an inline PUT does not notice
    try:
        put = s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="CRC32")
        with pytest.raises(ClientError) as exc:  # one byte more goes to the data path
            s3.put_object(Bucket=bucket, Key="big", Body=body + b"x")
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    finally:
        s3e.blobs.fail_writes = False
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    (blob,) = _version(s3e, bucket, "k").blobs
    assert blob.is_inline and blob.inline == body and blob.blob_id == b""
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == body and got["ChecksumCRC32"] == put["ChecksumCRC32"]
    ranged = s3.get_object(Bucket=bucket, Key="k", Range="bytes=100-199")
    assert ranged["Body"].read() == body[100:200] and ranged["ContentRange"] == f"bytes 100-199/{LIMIT}"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=put["ETag"])
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == LIMIT
    s3.put_object(Bucket=bucket, Key="big", Body=body + b"x")
    assert not _version(s3e, bucket, "big").blobs[0].is_inline


def test_overwrite_and_delete_leave_nothing_for_gc(s3: Any, s3e: Endpoint, bucket: str) -> None:
    before = len(s3e.run(s3e.metadata.list_gc_work()))
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    s3.delete_object(Bucket=bucket, Key="k")
    assert len(s3e.run(s3e.metadata.list_gc_work())) == before
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="k")


def test_versions_of_an_inline_object(s3: Any, s3e: Endpoint, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="v", Body=b"first")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="v", Body=b"second" * 300)["VersionId"]  # 1800 B: not inline
    assert _version(s3e, bucket, "v", first).blobs[0].is_inline
    assert not _version(s3e, bucket, "v", second).blobs[0].is_inline
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=first)["Body"].read() == b"first"
    s3.delete_object(Bucket=bucket, Key="v", VersionId=second)
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == b"first"


def test_copies_and_part_copies_from_an_inline_source(s3: Any, s3e: Endpoint, bucket: str) -> None:
    body = os.urandom(900)
    s3.put_object(Bucket=bucket, Key="src", Body=body, Metadata={"a": "b"})
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert _version(s3e, bucket, "dst").blobs[0].is_inline
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == body and got["Metadata"] == {"a": "b"}

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    part = s3.upload_part_copy(
        Bucket=bucket,
        Key="mpu",
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange="bytes=100-499",
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mpu",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )
    assert not any(b.is_inline for b in _version(s3e, bucket, "mpu").blobs)  # parts are never inline
    assert s3.get_object(Bucket=bucket, Key="mpu")["Body"].read() == body[100:500]


def test_sse_s3_body_is_encrypted_before_it_is_stored_inline(s3: Any, s3e: Endpoint, bucket: str) -> None:
    body = b"secret " * 100
    put = s3.put_object(Bucket=bucket, Key="e", Body=body, ServerSideEncryption="AES256")
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    (blob,) = _version(s3e, bucket, "e").blobs
    assert blob.is_inline and blob.sealed_key and b"secret" not in blob.inline
    got = s3.get_object(Bucket=bucket, Key="e", Range="bytes=7-13")
    assert got["Body"].read() == body[7:14] and got["ServerSideEncryption"] == "AES256"


async def test_an_inline_ref_without_its_bytes_is_never_served(s3e: Endpoint) -> None:
    store = InlineBlobStore(s3e.blobs, LIMIT)
    whole = BlobRef(b"", 0, 3, 0, 0, 0, inline=b"abc")
    assert b"".join([p async for p in store.read((whole,), 1, 2)]) == b"bc"
    elided = BlobRef(b"", 0, 3, 0, 0, 0)  # as a PUT answers it
    with pytest.raises(InlineBytesMissing):
        _ = [p async for p in store.read((elided,), 0, 2)]
