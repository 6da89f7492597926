"""A conformance checklist through boto3 on a real cluster: each test one behaviour S3 documents,
where the other e2e modules do not already pin it.

GetObjectAttributes; GET/HEAD with partNumber; conditional GET/HEAD and copy-source dates;
ListObjects V1/V2 and ListObjectVersions with `encoding-type=url` (the raw encoded values: boto3
decodes only when it asked for the encoding itself); DeleteObjects per-key errors; checksum mode;
response-* overrides; versioning headers of writes and deletes in never-versioned and suspended
buckets; CompleteMultipartUpload with a whole-object checksum or a repeated part.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import uuid
import zlib
from typing import Any
from urllib.parse import unquote

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.support.cluster import RunningCluster

MiB = 1024 * 1024
PART = 5 * MiB


def new_bucket(s3: Any, versioning: str | None = None) -> str:
    name = f"e2e-conf-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    return name


@pytest.fixture
def bucket(s3: Any) -> str:
    return new_bucket(s3)


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    return response["ResponseMetadata"]["HTTPHeaders"]


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def multipart(s3: Any, bucket: str, key: str, parts: list[bytes], **create: Any) -> list[dict[str, Any]]:
    """Upload `parts` with CRC32 checksums; the parts list CompleteMultipartUpload takes, and the id."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", **create)[
        "UploadId"
    ]
    done = []
    for number, body in enumerate(parts, start=1):
        got = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="CRC32",
        )
        done.append({"PartNumber": number, "ETag": got["ETag"], "ChecksumCRC32": got["ChecksumCRC32"]})
    return [{"UploadId": upload_id}, *done]


def complete(s3: Any, bucket: str, key: str, uploaded: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    upload_id = uploaded[0]["UploadId"]
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": uploaded[1:]}, **extra
    )


# --- GetObjectAttributes ------------------------------------------------------------------------------


def test_get_object_attributes_of_a_single_put(s3: Any, bucket: str) -> None:
    body = os.urandom(1000)
    put = s3.put_object(Bucket=bucket, Key="one", Body=body, ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(
        Bucket=bucket,
        Key="one",
        ObjectAttributes=["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"],
    )
    assert got["ETag"] == hashlib.md5(body).hexdigest()  # unquoted here
    assert got["Checksum"] == {
        "ChecksumSHA256": base64.b64encode(hashlib.sha256(body).digest()).decode(),
        "ChecksumType": "FULL_OBJECT",
    }
    assert put["ChecksumSHA256"] == got["Checksum"]["ChecksumSHA256"]
    assert (got["StorageClass"], got["ObjectSize"]) == ("STANDARD", 1000)
    assert "ObjectParts" not in got  # not a multipart object
    assert "VersionId" not in got  # never-versioned bucket
    assert got["LastModified"] == s3.head_object(Bucket=bucket, Key="one")["LastModified"]
    only_size = s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=["ObjectSize"])
    assert only_size["ObjectSize"] == 1000 and "ETag" not in only_size and "Checksum" not in only_size


def test_get_object_attributes_pages_the_parts_of_a_multipart_object(s3: Any, bucket: str) -> None:
    parts = [os.urandom(PART), os.urandom(PART), b"tail"]
    uploaded = multipart(s3, bucket, "mp", parts)
    done = complete(s3, bucket, "mp", uploaded)
    got = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts", "Checksum", "ETag"]
    )
    assert got["ETag"] == done["ETag"].strip('"')
    assert got["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert done["ChecksumCRC32"] == got["Checksum"]["ChecksumCRC32"] + "-3"
    listed = got["ObjectParts"]
    assert (listed["TotalPartsCount"], listed["IsTruncated"], listed["MaxParts"]) == (3, False, 1000)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, PART), (2, PART), (3, 4)]
    page = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1, PartNumberMarker=1
    )["ObjectParts"]
    assert ([p["PartNumber"] for p in page["Parts"]], page["IsTruncated"], page["NextPartNumberMarker"]) == (
        [2],
        True,
        2,
    )


def test_get_object_attributes_errors(cluster: RunningCluster, s3: Any) -> None:
    name = new_bucket(s3, "Enabled")
    kept = s3.put_object(Bucket=name, Key="k", Body=b"x")["VersionId"]
    unchecked = cluster.s3_client(parameter_validation=False)
    for names in ([], ["Bogus"], ["ETag", "Size"]):
        with pytest.raises(ClientError) as exc:
            unchecked.get_object_attributes(Bucket=name, Key="k", ObjectAttributes=names)
        assert error(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=name, Key="missing", ObjectAttributes=["ETag"])
    assert error(exc) == (404, "NoSuchKey")
    s3.delete_object(Bucket=name, Key="k")
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=name, Key="k", ObjectAttributes=["ETag"])
    assert error(exc) == (404, "NoSuchKey")
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"
    old = s3.get_object_attributes(Bucket=name, Key="k", VersionId=kept, ObjectAttributes=["ObjectSize"])
    assert (old["VersionId"], old["ObjectSize"]) == (kept, 1)


# --- GET / HEAD with partNumber ------------------------------------------------------------------------


def test_get_and_head_by_part_number(s3: Any, bucket: str) -> None:
    parts = [os.urandom(PART), b"second part"]
    complete(s3, bucket, "mp", multipart(s3, bucket, "mp", parts))
    second = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert second["Body"].read() == parts[1]
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert second["ContentRange"] == f"bytes {PART}-{PART + len(parts[1]) - 1}/{PART + len(parts[1])}"
    assert second["PartsCount"] == 2
    head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=1)
    assert (head["ContentLength"], head["PartsCount"]) == (PART, 2)
    assert "PartsCount" not in s3.head_object(Bucket=bucket, Key="mp")  # only when a part is asked for
    # S3's error table: InvalidPartNumber is 416 "The requested partnumber is not satisfiable"
    for call in (s3.get_object, s3.head_object):
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, Key="mp", PartNumber=3)
        assert error(exc)[0] == 416
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=3)
    assert error(exc) == (416, "InvalidPartNumber")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=1, Range="bytes=0-9")
    assert error(exc) == (400, "InvalidRequest")


# --- conditional GET / HEAD / copy with dates -----------------------------------------------------------


def test_conditional_reads_and_copies_by_date(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"dated")
    modified = s3.head_object(Bucket=bucket, Key="src")["LastModified"]
    before, after = modified - dt.timedelta(days=1), modified + dt.timedelta(days=1)
    assert s3.get_object(Bucket=bucket, Key="src", IfModifiedSince=before)["Body"].read() == b"dated"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="src", IfModifiedSince=after)
    assert error(exc)[0] == 304
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="src", IfUnmodifiedSince=before)
    assert error(exc)[0] == 412
    assert s3.head_object(Bucket=bucket, Key="src", IfUnmodifiedSince=after)["ContentLength"] == 5
    source = f"{bucket}/src"
    s3.copy_object(Bucket=bucket, Key="c1", CopySource=source, CopySourceIfModifiedSince=before)
    s3.copy_object(Bucket=bucket, Key="c2", CopySource=source, CopySourceIfUnmodifiedSince=after)
    for condition in ({"CopySourceIfModifiedSince": after}, {"CopySourceIfUnmodifiedSince": before}):
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket=bucket, Key="c3", CopySource=source, **condition)
        assert error(exc) == (412, "PreconditionFailed")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["c1", "c2", "src"]


# --- encoding-type=url ---------------------------------------------------------------------------------

ODD_KEYS = ["a b/1", "a b/2+x", "a+b/3", "c%d", "plain", "z\u00e9"]


def test_list_objects_v1_url_encodes_what_s3_encodes(s3: Any, bucket: str) -> None:
    for key in ODD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    got = s3.list_objects(Bucket=bucket, EncodingType="url", Delimiter="/", Marker="a b/", MaxKeys=2)
    assert got["EncodingType"] == "url"
    assert got["Marker"] == "a%20b/"
    assert got["Delimiter"] == "/"
    assert [p["Prefix"] for p in got.get("CommonPrefixes", [])] == ["a%2Bb/"]
    assert [o["Key"] for o in got["Contents"]] == ["c%25d"]
    assert got["IsTruncated"] is True and got["NextMarker"] == "c%25d"
    prefixed = s3.list_objects(Bucket=bucket, EncodingType="url", Prefix="a b/", Delimiter="+")
    assert prefixed["Prefix"] == "a%20b/" and prefixed["Delimiter"] == "%2B"
    assert [o["Key"] for o in prefixed["Contents"]] == ["a%20b/1"]
    assert [p["Prefix"] for p in prefixed["CommonPrefixes"]] == ["a%20b/2%2B"]
    # boto3's own encoding (it asks for url and decodes) gives the keys back as they are
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == ODD_KEYS


def test_list_objects_v2_url_encodes_start_after_and_keys(s3: Any, bucket: str) -> None:
    for key in ODD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    got = s3.list_objects_v2(Bucket=bucket, EncodingType="url", StartAfter="c%d")
    assert got["StartAfter"] == "c%25d"
    assert [o["Key"] for o in got["Contents"]] == ["plain", "z%C3%A9"]
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket, EncodingType="base64")
    assert error(exc) == (400, "InvalidArgument")


def test_list_object_versions_pages_with_url_encoding(s3: Any) -> None:
    name = new_bucket(s3, "Enabled")
    expected = []
    for key in ("a b", "a+b", "c%d"):
        for i in range(2):
            expected.append((key, s3.put_object(Bucket=name, Key=key, Body=b"%d" % i)["VersionId"]))
    seen: list[tuple[str, str]] = []
    key_marker, version_marker, pages = "", "", 0
    while True:
        got = s3.list_object_versions(
            Bucket=name, EncodingType="url", MaxKeys=4, KeyMarker=key_marker, VersionIdMarker=version_marker
        )
        pages += 1
        assert got["KeyMarker"] == key_marker.replace("%", "%25").replace(" ", "%20").replace("+", "%2B")
        seen += [(unquote(v["Key"]), v["VersionId"]) for v in got["Versions"]]
        if not got["IsTruncated"]:
            break
        key_marker, version_marker = unquote(got["NextKeyMarker"]), got["NextVersionIdMarker"]
    assert pages == 2
    # newest first within a key
    assert seen == [
        p for key in ("a b", "a+b", "c%d") for p in reversed([e for e in expected if e[0] == key])
    ]


# --- DeleteObjects ------------------------------------------------------------------------------------


def test_delete_objects_reports_errors_per_key_even_when_quiet(cluster: RunningCluster, s3: Any) -> None:
    name = new_bucket(s3)
    for key in ("open/a", "open/b", "locked/c"):
        s3.put_object(Bucket=name, Key=key, Body=b"x")
    s3.put_bucket_policy(
        Bucket=name,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:DeleteObject",
                        "Resource": f"arn:aws:s3:::{name}/open/*",
                    }
                ],
            }
        ),
    )
    other = cluster.s3_client(signature_version=UNSIGNED)  # the policy lets anyone delete under open/
    objects = [{"Key": "open/a"}, {"Key": "locked/c"}, {"Key": "open/missing"}]
    result = other.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
    assert "Deleted" not in result  # quiet: only the errors
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("locked/c", "AccessDenied")]
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]]
    assert listed == ["locked/c", "open/b"]


# --- checksum mode, response-* overrides ----------------------------------------------------------------


def test_checksum_mode_on_a_multipart_object_and_its_parts(s3: Any, bucket: str) -> None:
    parts = [os.urandom(PART), b"last part"]
    done = complete(s3, bucket, "mp", multipart(s3, bucket, "mp", parts))
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == done["ChecksumCRC32"] and head["ChecksumType"] == "COMPOSITE"
    assert "ChecksumCRC32" not in s3.head_object(Bucket=bucket, Key="mp")
    part = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2, ChecksumMode="ENABLED")
    assert part["Body"].read() == parts[1]
    assert not any(h.startswith("x-amz-checksum-") for h in headers_of(part))  # not the whole object


def test_response_overrides_on_signed_gets_only(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="doc", Body=b"text", ContentType="text/plain", CacheControl="no-cache")
    overrides = {
        "ResponseContentType": "application/json",
        "ResponseContentDisposition": 'attachment; filename="x.json"',
        "ResponseCacheControl": "max-age=60",
        "ResponseContentLanguage": "fr",
        "ResponseContentEncoding": "identity",
        "ResponseExpires": dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    }
    got = s3.get_object(Bucket=bucket, Key="doc", **overrides)
    assert got["Body"].read() == b"text"
    assert (got["ContentType"], got["ContentDisposition"]) == (
        "application/json",
        'attachment; filename="x.json"',
    )
    assert (got["CacheControl"], got["ContentLanguage"], got["ContentEncoding"]) == (
        "max-age=60",
        "fr",
        "identity",
    )
    assert headers_of(got)["expires"] == "Tue, 01 Jan 2030 00:00:00 GMT"
    head = s3.head_object(Bucket=bucket, Key="doc", ResponseContentType="application/json")
    assert head["ContentType"] == "application/json"
    plain = s3.get_object(Bucket=bucket, Key="doc")
    assert (plain["ContentType"], plain["CacheControl"]) == ("text/plain", "no-cache")  # nothing was stored

    public = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public))
    anon = cluster.s3_client(signature_version=UNSIGNED)
    assert anon.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"text"
    with pytest.raises(ClientError) as exc:
        anon.get_object(Bucket=bucket, Key="doc", ResponseContentType="application/json")
    assert error(exc) == (400, "InvalidRequest")


# --- versioning headers ---------------------------------------------------------------------------------


def test_never_versioned_writes_and_deletes_carry_no_version(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "x-amz-version-id" not in headers_of(put)
    done = complete(s3, bucket, "mp", multipart(s3, bucket, "mp", [b"one part"]))
    assert "x-amz-version-id" not in headers_of(done)
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/k")
    assert "x-amz-version-id" not in headers_of(copied)
    for key in ("k", "never-there"):
        deleted = s3.delete_object(Bucket=bucket, Key=key)
        assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert not {"x-amz-version-id", "x-amz-delete-marker"} & set(headers_of(deleted))
    for call in (s3.head_object, s3.get_object):
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, Key="k")
        assert error(exc)[0] == 404
        assert not {"x-amz-version-id", "x-amz-delete-marker"} & set(
            exc.value.response["ResponseMetadata"]["HTTPHeaders"]
        )


@pytest.mark.parametrize("state", ["Enabled", "Suspended"])
def test_deleting_a_missing_key_leaves_a_marker(s3: Any, state: str) -> None:
    name = new_bucket(s3, state)
    deleted = s3.delete_object(Bucket=name, Key="never-there")
    assert deleted["DeleteMarker"] is True
    assert (deleted["VersionId"] == "null") is (state == "Suspended")
    markers = s3.list_object_versions(Bucket=name)["DeleteMarkers"]
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in markers] == [
        ("never-there", deleted["VersionId"], True)
    ]


# --- CompleteMultipartUpload ----------------------------------------------------------------------------


def test_completion_checks_a_whole_object_checksum_header(s3: Any, bucket: str) -> None:
    parts = [os.urandom(PART), b"end"]
    body = b"".join(parts)
    uploaded = multipart(s3, bucket, "full", parts, ChecksumType="FULL_OBJECT")
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "full", uploaded, ChecksumCRC32=crc32_b64(b"other"), ChecksumType="FULL_OBJECT")
    assert error(exc) == (400, "BadDigest")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    # the header describes the object, not the XML body it comes with
    done = complete(s3, bucket, "full", uploaded, ChecksumCRC32=crc32_b64(body), ChecksumType="FULL_OBJECT")
    assert (done["ChecksumCRC32"], done["ChecksumType"]) == (crc32_b64(body), "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc32_b64(body)


def test_completion_checks_a_composite_checksum_header(s3: Any, bucket: str) -> None:
    """A COMPOSITE checksum is `base64(CRC32 of the part CRC32s)-N`."""
    parts = [os.urandom(PART), b"end"]
    uploaded = multipart(s3, bucket, "comp", parts)
    part_crcs = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    right = f"{crc32_b64(part_crcs)}-2"
    for wrong in (f"{crc32_b64(b'other')}-2", f"{crc32_b64(part_crcs)}-3"):
        with pytest.raises(ClientError) as exc:
            complete(s3, bucket, "comp", uploaded, ChecksumCRC32=wrong)
        assert error(exc) == (400, "BadDigest")
    done = complete(s3, bucket, "comp", uploaded, ChecksumCRC32=right)
    assert (done["ChecksumCRC32"], done["ChecksumType"]) == (right, "COMPOSITE")


def test_completion_listing_a_part_twice_is_invalid_part_order(s3: Any, bucket: str) -> None:
    uploaded = multipart(s3, bucket, "dup", [os.urandom(PART), b"end"])
    twice = [uploaded[0], uploaded[1], uploaded[1], uploaded[2]]
    with pytest.raises(ClientError) as exc:
        complete(s3, bucket, "dup", twice)
    assert error(exc) == (400, "InvalidPartOrder")
    complete(s3, bucket, "dup", uploaded)
    assert s3.head_object(Bucket=bucket, Key="dup")["ContentLength"] == PART + 3
