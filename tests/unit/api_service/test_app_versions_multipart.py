"""Versioning, listing, DeleteObjects, CopyObject and multipart end to end through boto3."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import zlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cairn.api_service.config import ApiConfig

from .harness import Endpoint, code_of

MIB = 1024 * 1024


def test_versioning_flow(s3: Any) -> None:
    s3.create_bucket(Bucket="ver")
    assert "Status" not in s3.get_bucket_versioning(Bucket="ver")
    s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Enabled"
    v1 = s3.put_object(Bucket="ver", Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket="ver", Key="k", Body=b"two")["VersionId"]
    assert v1 != v2
    assert s3.get_object(Bucket="ver", Key="k", VersionId=v1)["Body"].read() == b"one"
    deleted = s3.delete_object(Bucket="ver", Key="k")
    assert deleted["DeleteMarker"] is True
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket="ver", Key="k")
    assert code_of(exc) == ("404", 404)
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    versions = s3.list_object_versions(Bucket="ver")
    assert [v["VersionId"] for v in versions["Versions"]] == [v2, v1]
    assert versions["DeleteMarkers"][0]["IsLatest"] is True
    s3.delete_object(Bucket="ver", Key="k", VersionId=deleted["VersionId"])
    assert s3.get_object(Bucket="ver", Key="k")["Body"].read() == b"two"


def test_restore_old_version_by_copying_it_onto_its_own_key(s3: Any) -> None:
    s3.create_bucket(Bucket="restore")
    s3.put_bucket_versioning(Bucket="restore", VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket="restore", Key="k", Body=b"one")["VersionId"]
    s3.put_object(Bucket="restore", Key="k", Body=b"two")
    copied = s3.copy_object(
        Bucket="restore", Key="k", CopySource={"Bucket": "restore", "Key": "k", "VersionId": v1}
    )
    assert copied["CopySourceVersionId"] == v1 and copied["VersionId"] != v1
    assert s3.get_object(Bucket="restore", Key="k")["Body"].read() == b"one"
    assert len(s3.list_object_versions(Bucket="restore")["Versions"]) == 3
    with pytest.raises(ClientError) as exc:  # without a version id it is still a copy onto itself
        s3.copy_object(Bucket="restore", Key="k", CopySource={"Bucket": "restore", "Key": "k"})
    assert code_of(exc) == ("InvalidRequest", 400)


def test_listing_order_delimiter_and_pagination(s3: Any) -> None:
    s3.create_bucket(Bucket="list")
    keys = ["foo/", "foo+1/", "foo/a", "foo/b/c", "bar", "a b"]
    for key in keys:
        s3.put_object(Bucket="list", Key=key, Body=b"")
    listed = s3.list_objects_v2(Bucket="list")
    assert [o["Key"] for o in listed["Contents"]] == sorted(keys, key=lambda k: k.encode())
    top = s3.list_objects_v2(Bucket="list", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["foo+1/", "foo/"]
    assert [o["Key"] for o in top["Contents"]] == ["a b", "bar"]
    seen, token = [], None
    while True:
        page = s3.list_objects_v2(Bucket="list", MaxKeys=2, **({"ContinuationToken": token} if token else {}))
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == [o["Key"] for o in listed["Contents"]]
    v1 = s3.list_objects(Bucket="list", Prefix="foo/", Delimiter="/")
    assert [o["Key"] for o in v1["Contents"]] == ["foo/", "foo/a"] and v1["CommonPrefixes"] == [
        {"Prefix": "foo/b/"}
    ]


def test_delete_objects_quiet_and_verbose(s3: Any) -> None:
    s3.create_bucket(Bucket="multi")
    for key in ("a", "b", "c"):
        s3.put_object(Bucket="multi", Key=key, Body=b"x")
    result = s3.delete_objects(
        Bucket="multi", Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "zz"}]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b", "zz"]
    quiet = s3.delete_objects(Bucket="multi", Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket="multi")["KeyCount"] == 0


def _tamper(client: Any, operation: str, **headers: str) -> None:
    """Replace the body digests botocore computed for `operation` with `headers` (before signing)."""

    def set_headers(request: Any, **_: Any) -> None:
        for name in [n for n in request.headers if n.lower().startswith(("x-amz-checksum-", "content-md5"))]:
            del request.headers[name]
        for name in [n for n in request.headers if n.lower() == "x-amz-sdk-checksum-algorithm"]:
            del request.headers[name]
        for name, value in headers.items():
            request.headers[name] = value

    client.meta.events.register(f"before-sign.s3.{operation}", set_headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-MD5": base64.b64encode(hashlib.md5(b"other").digest()).decode()},
        {"x-amz-checksum-crc32": base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()},
    ],
)
def test_delete_objects_with_a_wrong_body_digest_is_bad_digest(
    s3e: Endpoint, headers: dict[str, str]
) -> None:
    s3 = s3e.client(s3={"payload_signing_enabled": False})
    s3.create_bucket(Bucket="digest")
    s3.put_object(Bucket="digest", Key="keep", Body=b"x")
    _tamper(s3, "DeleteObjects", **headers)
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket="digest", Delete={"Objects": [{"Key": "keep"}]})
    assert code_of(exc) == ("BadDigest", 400)
    assert s3.get_object(Bucket="digest", Key="keep")["Body"].read() == b"x"


def test_xml_bodies_with_a_right_digest_or_none_are_accepted(s3e: Endpoint) -> None:
    s3 = s3e.client(s3={"payload_signing_enabled": False})
    s3.create_bucket(Bucket="digest-ok")
    s3.put_object(Bucket="digest-ok", Key="a", Body=b"x")
    _tamper(s3, "PutBucketVersioning")
    s3.put_bucket_versioning(Bucket="digest-ok", VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket="digest-ok")["Status"] == "Enabled"
    assert (
        s3.delete_objects(Bucket="digest-ok", Delete={"Objects": [{"Key": "a"}]})["Deleted"][0]["Key"] == "a"
    )


def test_delete_objects_runs_keys_concurrently_and_answers_in_request_order(
    s3e: Endpoint, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.create_bucket(Bucket="bulk")
    keys = [f"k{i:03d}" for i in range(100)][::-1]  # not in sorted order
    for key in keys[:50]:
        s3.put_object(Bucket="bulk", Key=key, Body=b"x")
    real = s3e.metadata.delete_object
    in_flight, peak = 0, 0

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)  # let the other deletes start
            return await real(*args, **kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(s3e.metadata, "delete_object", counting)
    result = s3.delete_objects(Bucket="bulk", Delete={"Objects": [{"Key": k} for k in keys]})
    assert [d["Key"] for d in result["Deleted"]] == keys
    assert 1 < peak <= 32
    assert s3.list_objects_v2(Bucket="bulk")["KeyCount"] == 0


def test_copy_object_copy_and_replace(s3: Any) -> None:
    s3.create_bucket(Bucket="copy")
    s3.put_object(Bucket="copy", Key="src", Body=b"payload", Metadata={"a": "1"}, ContentType="text/x")
    s3.copy_object(Bucket="copy", Key="dst", CopySource={"Bucket": "copy", "Key": "src"})
    got = s3.get_object(Bucket="copy", Key="dst")
    assert (
        got["Body"].read() == b"payload" and got["Metadata"] == {"a": "1"} and got["ContentType"] == "text/x"
    )
    s3.copy_object(
        Bucket="copy", Key="dst2", CopySource="copy/src", MetadataDirective="REPLACE", Metadata={"b": "2"}
    )
    assert s3.head_object(Bucket="copy", Key="dst2")["Metadata"] == {"b": "2"}
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket="copy", Key="src", CopySource="copy/src")
    assert code_of(exc) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket="copy", Key="x", CopySource="copy/src", CopySourceIfMatch='"nope"')
    assert code_of(exc) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket="copy", Key="x", CopySource="copy/missing")
    assert code_of(exc) == ("NoSuchKey", 404)


def test_multipart_with_crc32_as_the_cli_sends_it(s3: Any) -> None:
    s3.create_bucket(Bucket="mpu")
    part1, part2 = b"a" * (5 * MIB), b"b" * 1000
    upload = s3.create_multipart_upload(Bucket="mpu", Key="big", ChecksumAlgorithm="CRC32")["UploadId"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="mpu")["Uploads"]] == [upload]
    parts = []
    for number, data in ((1, part1), (2, part2)):
        r = s3.upload_part(
            Bucket="mpu", Key="big", UploadId=upload, PartNumber=number, Body=data, ChecksumAlgorithm="CRC32"
        )
        parts.append({"PartNumber": number, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    listed = s3.list_parts(Bucket="mpu", Key="big", UploadId=upload)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2]
    done = s3.complete_multipart_upload(
        Bucket="mpu", Key="big", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    md5s = hashlib.md5(hashlib.md5(part1).digest() + hashlib.md5(part2).digest()).hexdigest()
    assert done["ETag"] == f'"{md5s}-2"'
    raw = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in (part1, part2))
    assert done["ChecksumCRC32"] == base64.b64encode(zlib.crc32(raw).to_bytes(4, "big")).decode() + "-2"
    got = s3.get_object(Bucket="mpu", Key="big", ChecksumMode="ENABLED")
    assert got["Body"].read() == part1 + part2
    second = s3.get_object(Bucket="mpu", Key="big", PartNumber=2)
    assert second["Body"].read() == part2 and second["PartsCount"] == 2


def test_multipart_errors_and_abort(s3: Any) -> None:
    s3.create_bucket(Bucket="mpe")
    upload = s3.create_multipart_upload(Bucket="mpe", Key="k")["UploadId"]
    e1 = s3.upload_part(Bucket="mpe", Key="k", UploadId=upload, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket="mpe", Key="k", UploadId=upload, PartNumber=2, Body=b"small")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket="mpe",
            Key="k",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
        )
    assert code_of(exc) == ("EntityTooSmall", 400)
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket="mpe",
            Key="k",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]},
        )
    assert code_of(exc) == ("InvalidPartOrder", 400)
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket="mpe", Key="k", UploadId=upload, PartNumber=10001, Body=b"x")
    assert code_of(exc) == ("InvalidArgument", 400)
    s3.abort_multipart_upload(Bucket="mpe", Key="k", UploadId=upload)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket="mpe", Key="k", UploadId=upload)
    assert code_of(exc) == ("NoSuchUpload", 404)


def test_upload_part_copy_with_range(s3: Any) -> None:
    s3.create_bucket(Bucket="upc")
    source = bytes(range(256)) * (6 * 4096)
    s3.put_object(Bucket="upc", Key="src", Body=source)
    upload = s3.create_multipart_upload(Bucket="upc", Key="dst")["UploadId"]
    r1 = s3.upload_part_copy(
        Bucket="upc",
        Key="dst",
        UploadId=upload,
        PartNumber=1,
        CopySource="upc/src",
        CopySourceRange=f"bytes=0-{5 * MIB - 1}",
    )
    r2 = s3.upload_part_copy(
        Bucket="upc",
        Key="dst",
        UploadId=upload,
        PartNumber=2,
        CopySource="upc/src",
        CopySourceRange=f"bytes={5 * MIB}-{len(source) - 1}",
    )
    parts = [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
    ]
    s3.complete_multipart_upload(Bucket="upc", Key="dst", UploadId=upload, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket="upc", Key="dst")["Body"].read() == source
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket="upc", Key="dst", UploadId="nope", PartNumber=1, CopySource="upc/src")
    assert code_of(exc) == ("NoSuchUpload", 404)


def test_lost_write_quorum_is_503_and_commits_nothing(s3e: Endpoint, s3: Any) -> None:
    s3.create_bucket(Bucket="down")
    s3e.blobs.fail_writes = True
    try:
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket="down", Key="k", Body=b"d" * (ApiConfig().inline_max_bytes + 1))
        assert code_of(exc) == ("ServiceUnavailable", 503)
    finally:
        s3e.blobs.fail_writes = False
    assert s3.list_objects_v2(Bucket="down")["KeyCount"] == 0
