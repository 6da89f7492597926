"""Multipart uploads end to end through boto3: create / upload / list / complete / abort, the
composite ETag, the completion errors AWS returns, UploadPartCopy with ranges, idempotent
completion, per-part CRC32 checksums and conditional completion.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
import zlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

MiB = 1024 * 1024
PART = 5 * MiB


def new_bucket(s3: Any) -> str:
    name = f"e2e-mpu-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def bucket(s3: Any) -> str:
    return new_bucket(s3)


def status_code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def multipart_etag(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def upload_parts(s3: Any, bucket: str, key: str, upload_id: str, parts: list[bytes]) -> list[dict[str, Any]]:
    done = []
    for number, body in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)[
            "ETag"
        ]
        assert etag == f'"{hashlib.md5(body).hexdigest()}"'
        done.append({"PartNumber": number, "ETag": etag})
    return done


def assert_missing(s3: Any, bucket: str, key: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_multipart_upload_life_cycle(s3: Any, bucket: str) -> None:
    parts = [os.urandom(PART), os.urandom(PART), os.urandom(MiB + 17)]
    created = s3.create_multipart_upload(
        Bucket=bucket, Key="big/object.bin", ContentType="application/x-test", Metadata={"origin": "mpu"}
    )
    upload_id = created["UploadId"]
    assert created["Key"] == "big/object.bin" and created["Bucket"] == bucket

    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("big/object.bin", upload_id)]
    assert_missing(s3, bucket, "big/object.bin")  # nothing is visible before completion

    done = upload_parts(s3, bucket, "big/object.bin", upload_id, parts)
    listed = s3.list_parts(Bucket=bucket, Key="big/object.bin", UploadId=upload_id)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == [
        (d["PartNumber"], d["ETag"], len(b)) for d, b in zip(done, parts, strict=True)
    ]
    paged = s3.list_parts(Bucket=bucket, Key="big/object.bin", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in paged["Parts"]] == [1, 2]
    assert paged["IsTruncated"] is True
    rest = s3.list_parts(
        Bucket=bucket,
        Key="big/object.bin",
        UploadId=upload_id,
        PartNumberMarker=paged["NextPartNumberMarker"],
    )
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    assert_missing(s3, bucket, "big/object.bin")

    completed = s3.complete_multipart_upload(
        Bucket=bucket, Key="big/object.bin", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    assert completed["ETag"] == multipart_etag(parts)
    got = s3.get_object(Bucket=bucket, Key="big/object.bin")
    body = got["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(b"".join(parts)).digest()
    assert got["ContentLength"] == sum(len(p) for p in parts)
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"origin": "mpu"}
    # A range across the part boundary.
    ranged = s3.get_object(Bucket=bucket, Key="big/object.bin", Range=f"bytes={PART - 5}-{PART + 4}")
    assert ranged["Body"].read() == parts[0][-5:] + parts[1][:5]

    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="big/object.bin", UploadId=upload_id)
    assert status_code(exc) == (404, "NoSuchUpload")


def test_abort(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    done = upload_parts(s3, bucket, "aborted", upload_id, [os.urandom(1000)])
    aborted = s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload_id)
    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=upload_id, PartNumber=2, Body=b"late")
    assert status_code(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="aborted", UploadId=upload_id, MultipartUpload={"Parts": done}
        )
    assert status_code(exc) == (404, "NoSuchUpload")
    assert_missing(s3, bucket, "aborted")


def test_list_multipart_uploads_prefix_and_paging(s3: Any, bucket: str) -> None:
    ids = {
        key: s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"] for key in ("a/1", "a/2", "b/1")
    }
    with_prefix = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in with_prefix] == [("a/1", ids["a/1"]), ("a/2", ids["a/2"])]
    first = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    assert [u["Key"] for u in first["Uploads"]] == ["a/1", "a/2"]
    assert first["IsTruncated"] is True
    second = s3.list_multipart_uploads(
        Bucket=bucket,
        MaxUploads=2,
        KeyMarker=first["NextKeyMarker"],
        UploadIdMarker=first["NextUploadIdMarker"],
    )
    assert [u["Key"] for u in second["Uploads"]] == ["b/1"]
    rolled = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled.get("CommonPrefixes", [])] == ["a/", "b/"]


def test_small_middle_part_is_entity_too_small(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    done = upload_parts(s3, bucket, "small", upload_id, [os.urandom(MiB), os.urandom(MiB)])
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="small", UploadId=upload_id, MultipartUpload={"Parts": done}
        )
    assert status_code(exc) == (400, "EntityTooSmall")
    assert_missing(s3, bucket, "small")
    # A single small part is fine (the last part may be small).
    completed = s3.complete_multipart_upload(
        Bucket=bucket, Key="small", UploadId=upload_id, MultipartUpload={"Parts": done[-1:]}
    )
    assert completed["ETag"].endswith('-1"')


def test_wrong_etag_or_missing_part_is_invalid_part(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    done = upload_parts(s3, bucket, "k", upload_id, [os.urandom(PART), b"tail"])
    wrong_etag = [done[0], {"PartNumber": 2, "ETag": '"0123456789abcdef0123456789abcdef"'}]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": wrong_etag}
        )
    assert status_code(exc) == (400, "InvalidPart")
    never_uploaded = [*done, {"PartNumber": 3, "ETag": done[1]["ETag"]}]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": never_uploaded}
        )
    assert status_code(exc) == (400, "InvalidPart")
    assert_missing(s3, bucket, "k")
    # The upload is still usable after the failed attempts.
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": done})
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == PART + 4


def test_parts_out_of_order_is_invalid_part_order(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    done = upload_parts(
        s3, bucket, "k", upload_id, [os.urandom(PART), os.urandom(PART)]
    )  # sizes valid either way
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": list(reversed(done))}
        )
    assert status_code(exc) == (400, "InvalidPartOrder")
    assert_missing(s3, bucket, "k")


def test_unknown_upload_id(s3: Any, bucket: str) -> None:
    bogus = "bogus-upload-id-" + uuid.uuid4().hex
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=bogus, PartNumber=1, Body=b"x")
    assert status_code(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=bogus)
    assert status_code(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=bogus)
    assert status_code(exc) == (404, "NoSuchUpload")


def test_invalid_part_numbers(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for number in (0, 10001):
        with pytest.raises(ClientError) as exc:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=b"x")
        assert status_code(exc) == (400, "InvalidArgument")


def test_reuploading_a_part_replaces_it(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"old part")
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"new part")["ETag"]
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [(1, etag, 8)]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new part"


def test_upload_part_copy_with_ranges(s3: Any, bucket: str) -> None:
    source = os.urandom(PART + MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes=0-{PART - 1}",
    )["CopyPartResult"]["ETag"]
    assert first == f'"{hashlib.md5(source[:PART]).hexdigest()}"'
    second = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes={PART}-{PART + 99}",
    )["CopyPartResult"]["ETag"]
    parts = [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]
    completed = s3.complete_multipart_upload(
        Bucket=bucket, Key="assembled", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    expected = [source[:PART], source[PART : PART + 100]]
    assert completed["ETag"] == multipart_etag(expected)
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == b"".join(expected)

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="bad-range")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="bad-range",
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "source"},
            CopySourceRange=f"bytes={len(source)}-{len(source) + 10}",
        )
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 416)
    assert exc.value.response["Error"]["Code"] in ("InvalidArgument", "InvalidRange")


def test_completing_twice_is_idempotent(s3: Any, bucket: str) -> None:
    parts = [os.urandom(PART), b"last"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="twice")["UploadId"]
    done = upload_parts(s3, bucket, "twice", upload_id, parts)
    first = s3.complete_multipart_upload(
        Bucket=bucket, Key="twice", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    second = s3.complete_multipart_upload(
        Bucket=bucket, Key="twice", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    assert first["ETag"] == second["ETag"] == multipart_etag(parts)
    assert s3.get_object(Bucket=bucket, Key="twice")["Body"].read() == b"".join(parts)
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("twice", PART + 4)]


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_per_part_crc32_checksums(s3: Any, bucket: str) -> None:
    parts = [os.urandom(PART), os.urandom(1234)]
    created = s3.create_multipart_upload(Bucket=bucket, Key="summed", ChecksumAlgorithm="CRC32")
    upload_id = created["UploadId"]
    assert created.get("ChecksumAlgorithm") == "CRC32"
    done = []
    for number, body in enumerate(parts, start=1):
        response = s3.upload_part(
            Bucket=bucket,
            Key="summed",
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="CRC32",
        )
        assert response["ChecksumCRC32"] == crc32_b64(body)
        done.append(
            {"PartNumber": number, "ETag": response["ETag"], "ChecksumCRC32": response["ChecksumCRC32"]}
        )
    listed = s3.list_parts(Bucket=bucket, Key="summed", UploadId=upload_id)["Parts"]
    assert [p["ChecksumCRC32"] for p in listed] == [crc32_b64(p) for p in parts]

    s3.complete_multipart_upload(
        Bucket=bucket, Key="summed", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    # The object's checksum is the composite of the part checksums: crc32(crc1 || crc2)-2.
    composite = base64.b64decode(done[0]["ChecksumCRC32"]) + base64.b64decode(done[1]["ChecksumCRC32"])
    head = s3.head_object(Bucket=bucket, Key="summed", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == f"{crc32_b64(composite)}-2"
    got = s3.get_object(Bucket=bucket, Key="summed", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(parts)


@pytest.mark.parametrize(
    ("algorithm", "size"), [("CRC32", 4), ("CRC32C", 4), ("CRC64NVME", 8), ("SHA1", 20), ("SHA256", 32)]
)
def test_wrong_part_checksum_is_bad_digest_for_every_algorithm(
    s3: Any, bucket: str, algorithm: str, size: int
) -> None:
    """A well-formed value that does not match the part is BadDigest (issue 12), whatever the algorithm."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm)["UploadId"]
    wrong = base64.b64encode(b"\x01" * size).decode()
    with pytest.raises(ClientError) as exc:
        s3.upload_part(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            PartNumber=1,
            Body=b"part body",
            **{f"Checksum{algorithm}": wrong},
        )
    assert status_code(exc) == (400, "BadDigest")
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id).get("Parts", []) == []


def test_conditional_completion(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="exists", Body=b"original")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="exists")["UploadId"]
    done = upload_parts(s3, bucket, "exists", upload_id, [b"replacement"])
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="exists", UploadId=upload_id, MultipartUpload={"Parts": done}, IfNoneMatch="*"
        )
    assert status_code(exc) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"original"

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="fresh")["UploadId"]
    done = upload_parts(s3, bucket, "fresh", upload_id, [b"new object"])
    s3.complete_multipart_upload(
        Bucket=bucket, Key="fresh", UploadId=upload_id, MultipartUpload={"Parts": done}, IfNoneMatch="*"
    )
    assert s3.get_object(Bucket=bucket, Key="fresh")["Body"].read() == b"new object"


def test_conditional_completion_with_if_match(s3: Any, bucket: str) -> None:
    """If-Match on CompleteMultipartUpload: 412 when the ETag differs, 404 NoSuchKey when there is
    no object, the object replaced when it matches."""
    etag = s3.put_object(Bucket=bucket, Key="cas", Body=b"original")["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="cas")["UploadId"]
    done = upload_parts(s3, bucket, "cas", upload_id, [b"replacement"])
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="cas",
            UploadId=upload_id,
            MultipartUpload={"Parts": done},
            IfMatch='"0123456789abcdef0123456789abcdef"',
        )
    assert status_code(exc) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"original"
    s3.complete_multipart_upload(
        Bucket=bucket, Key="cas", UploadId=upload_id, MultipartUpload={"Parts": done}, IfMatch=etag
    )
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"replacement"

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="cas-missing")["UploadId"]
    done = upload_parts(s3, bucket, "cas-missing", upload_id, [b"body"])
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="cas-missing",
            UploadId=upload_id,
            MultipartUpload={"Parts": done},
            IfMatch=etag,
        )
    assert status_code(exc) == (404, "NoSuchKey")
    assert_missing(s3, bucket, "cas-missing")


@pytest.mark.parametrize("with_if_match", [False, True], ids=["etag", "star-with-if-match"])
def test_completion_takes_if_none_match_only_as_star(s3: Any, bucket: str, with_if_match: bool) -> None:
    """If-None-Match with an ETag (or beside If-Match) on CompleteMultipartUpload is 501, as on
    PutObject; the upload is still there to complete."""
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"original")["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    done = upload_parts(s3, bucket, "k", upload_id, [b"replacement"])
    conditions = {"IfNoneMatch": "*", "IfMatch": etag} if with_if_match else {"IfNoneMatch": etag}
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": done}, **conditions
        )
    assert status_code(exc) == (501, "NotImplemented")
    assert exc.value.response["Error"]["Header"] == "If-None-Match"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"original"
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"replacement"
