"""SSE-S3 through the real app (in-memory metadata and blobs): what boto3 sees, and what is stored."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cairn.api_service.config import ApiConfig
from cairn.sse_crypto import SEGMENT

from .harness import Endpoint, serve


@pytest.fixture
def bucket(s3: Any) -> str:
    name = "sse-" + os.urandom(4).hex()
    s3.create_bucket(Bucket=name)
    return name


def _stored(s3e: Endpoint, bucket: str, key: str) -> bytes:
    v = s3e.run(s3e.metadata.get_object(bucket, key))
    return s3e.stored(v.blobs)


def test_put_get_head_and_ranges(s3: Any, s3e: Endpoint, bucket: str) -> None:
    body = os.urandom(3 * SEGMENT + 1234)
    put = s3.put_object(
        Bucket=bucket, Key="k", Body=body, ServerSideEncryption="AES256", ChecksumAlgorithm="CRC32"
    )
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'  # as S3 for SSE-S3: the plaintext's MD5
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ServerSideEncryption"] == "AES256"
    assert got["ContentLength"] == len(body)
    assert got["Body"].read() == body
    assert got["ChecksumCRC32"] == put["ChecksumCRC32"]  # computed on the plaintext
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["ServerSideEncryption"], head["ContentLength"]) == ("AES256", len(body))
    for start, end in [
        (0, 0),
        (SEGMENT - 1, SEGMENT),
        (SEGMENT + 7, 3 * SEGMENT + 100),
        (len(body) - 5, len(body) - 1),
    ]:
        part = s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={start}-{end}")
        assert part["Body"].read() == body[start : end + 1]
    stored = _stored(s3e, bucket, "k")
    assert len(stored) > len(body)
    assert body[:64] not in stored and body[SEGMENT : SEGMENT + 64] not in stored


def test_plain_objects_are_unchanged_and_an_unknown_algorithm_is_refused(
    s3: Any, s3e: Endpoint, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="plain", Body=b"visible")
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="plain")
    assert _stored(s3e, bucket, "plain") == b"visible"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x", ServerSideEncryption="AES128")
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x", SSEKMSKeyId="some-key")
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"


def test_an_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"", ServerSideEncryption="AES256")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert (got["Body"].read(), got["ServerSideEncryption"]) == (b"", "AES256")


def test_multipart_each_part_its_own_key(s3: Any, s3e: Endpoint, bucket: str) -> None:
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(SEGMENT + 3)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="AES256")
    assert upload["ServerSideEncryption"] == "AES256"
    done = []
    for n, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=n, Body=data)
        assert r["ServerSideEncryption"] == "AES256"
        assert r["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    result = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
    )
    assert result["ServerSideEncryption"] == "AES256"
    whole = b"".join(parts)
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == whole
    edge = len(parts[0])
    ranged = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={edge - 10}-{edge + 10}")["Body"].read()
    assert ranged == whole[edge - 10 : edge + 11]
    assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)["Body"].read() == parts[1]
    v = s3e.run(s3e.metadata.get_object(bucket, "mp"))
    assert len({b.sealed_key for b in v.blobs}) == 2 and all(b.sealed_key for b in v.blobs)


def test_copy_between_modes(s3: Any, s3e: Endpoint, bucket: str) -> None:
    body = os.urandom(SEGMENT * 2 + 5)
    s3.put_object(Bucket=bucket, Key="src", Body=body, ServerSideEncryption="AES256")
    plain = s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "src"})
    assert "ServerSideEncryption" not in plain
    assert _stored(s3e, bucket, "plain") == body
    enc = s3.copy_object(
        Bucket=bucket, Key="enc", CopySource={"Bucket": bucket, "Key": "plain"}, ServerSideEncryption="AES256"
    )
    assert enc["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="enc")["Body"].read() == body
    assert body[:64] not in _stored(s3e, bucket, "enc")
    # copying an object onto itself is legal when it changes the encryption
    s3.copy_object(
        Bucket=bucket,
        Key="plain",
        CopySource={"Bucket": bucket, "Key": "plain"},
        ServerSideEncryption="AES256",
    )
    assert s3.head_object(Bucket=bucket, Key="plain")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == body


def test_tampered_ciphertext_is_never_served(s3: Any, s3e: Endpoint, bucket: str) -> None:
    body = os.urandom(SEGMENT * 2)
    s3.put_object(Bucket=bucket, Key="t", Body=body, ServerSideEncryption="AES256")
    v = s3e.run(s3e.metadata.get_object(bucket, "t"))
    blob = v.blobs[0]
    damaged = bytearray(s3e.blobs.blobs[blob.blob_id])
    damaged[10] ^= 0xFF
    s3e.blobs.blobs[blob.blob_id] = bytes(damaged)
    with pytest.raises(ClientError) as exc:  # the first segment fails before any header is sent
        s3.get_object(Bucket=bucket, Key="t")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    # a range in the intact second segment still reads
    tail = s3.get_object(Bucket=bucket, Key="t", Range=f"bytes={SEGMENT}-{SEGMENT + 99}")["Body"].read()
    assert tail == body[SEGMENT : SEGMENT + 100]


DEFAULT_AES256 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def test_bucket_default_encryption(s3: Any, s3e: Endpoint, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_encryption(Bucket=bucket)
    assert exc.value.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=DEFAULT_AES256)
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert rule["BucketKeyEnabled"] is False
    body = os.urandom(SEGMENT + 10)
    put = s3.put_object(Bucket=bucket, Key="d", Body=body)  # asks for nothing: the default applies
    assert put["ServerSideEncryption"] == "AES256"
    assert body[:64] not in _stored(s3e, bucket, "d")
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == body
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert upload["ServerSideEncryption"] == "AES256"
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=upload["UploadId"])
    s3.delete_bucket_encryption(Bucket=bucket)
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="p", Body=b"plain")
    assert _stored(s3e, bucket, "p") == b"plain"
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_encryption(Bucket=bucket)
    assert exc.value.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError"


@pytest.mark.parametrize(
    ("config", "status", "code"),
    [
        (
            {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES128"}}]},
            400,
            "MalformedXML",
        ),
        (
            {
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256", "KMSMasterKeyID": "k"}}
                ]
            },
            400,
            "InvalidArgument",
        ),
        (
            {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse"}}]},
            501,
            "NotImplemented",
        ),
    ],
)
def test_bucket_encryption_refusals(
    s3: Any, bucket: str, config: dict[str, Any], status: int, code: str
) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config)
    assert (
        exc.value.response["ResponseMetadata"]["HTTPStatusCode"],
        exc.value.response["Error"]["Code"],
    ) == (
        status,
        code,
    )


# --- SSE-C ----------------------------------------------------------------------------------------
KEY, OTHER = b"k" * 32, b"o" * 32


def ssec(key: bytes = KEY) -> dict[str, Any]:
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


@pytest.fixture(scope="module")
def ssec_endpoint() -> Iterator[Endpoint]:
    with serve(ApiConfig(sse_c_allow_http=True)) as endpoint:
        yield endpoint


@pytest.fixture
def c3(ssec_endpoint: Endpoint) -> Any:
    return ssec_endpoint.client()


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"], exc.value.response["Error"]["Code"]


def test_sse_c_is_refused_over_plain_http_without_the_operator_flag(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="c", Body=b"x", **ssec())
    assert _error(exc) == (400, "InvalidRequest")
    assert "secure connection" in exc.value.response["Error"]["Message"]


def test_sse_c_round_trip_and_errors(c3: Any, ssec_endpoint: Endpoint) -> None:
    bucket = "ssec-" + os.urandom(4).hex()
    c3.create_bucket(Bucket=bucket)
    body = os.urandom(SEGMENT * 2 + 9)
    put = c3.put_object(Bucket=bucket, Key="c", Body=body, **ssec())
    md5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
    assert (put["SSECustomerAlgorithm"], put["SSECustomerKeyMD5"]) == ("AES256", md5)
    assert put["ETag"] != f'"{hashlib.md5(body).hexdigest()}"'  # as S3: not the plaintext's MD5
    got = c3.get_object(Bucket=bucket, Key="c", **ssec())
    assert (got["Body"].read(), got["SSECustomerKeyMD5"]) == (body, md5)
    ranged = c3.get_object(Bucket=bucket, Key="c", Range=f"bytes={SEGMENT - 2}-{SEGMENT + 2}", **ssec())
    assert ranged["Body"].read() == body[SEGMENT - 2 : SEGMENT + 3]
    assert c3.head_object(Bucket=bucket, Key="c", **ssec())["ContentLength"] == len(body)
    v = ssec_endpoint.run(ssec_endpoint.metadata.get_object(bucket, "c"))
    assert KEY not in v.encryption.customer_key_hmac and len(v.encryption.customer_key_hmac) == 48
    stored = ssec_endpoint.stored(v.blobs)
    assert body[:64] not in stored and KEY not in stored
    with pytest.raises(ClientError) as exc:  # no key
        c3.get_object(Bucket=bucket, Key="c")
    assert _error(exc) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as exc:  # the wrong key
        c3.get_object(Bucket=bucket, Key="c", **ssec(OTHER))
    assert _error(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        c3.head_object(Bucket=bucket, Key="c", **ssec(OTHER))
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    c3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    with pytest.raises(ClientError) as exc:  # a key for an object that has none
        c3.get_object(Bucket=bucket, Key="plain", **ssec())
    assert _error(exc) == (400, "InvalidRequest")


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"x-amz-server-side-encryption-customer-algorithm": "AES256"}, 400, "InvalidArgument"),
        (
            {
                "x-amz-server-side-encryption-customer-algorithm": "AES128",
                "x-amz-server-side-encryption-customer-key": base64.b64encode(KEY).decode(),
                "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(
                    hashlib.md5(KEY).digest()
                ).decode(),
            },
            400,
            "InvalidEncryptionAlgorithmError",
        ),
        (
            {
                "x-amz-server-side-encryption-customer-algorithm": "AES256",
                "x-amz-server-side-encryption-customer-key": base64.b64encode(KEY).decode(),
                "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(
                    hashlib.md5(OTHER).digest()
                ).decode(),
            },
            400,
            "InvalidArgument",
        ),
        (
            {
                "x-amz-server-side-encryption-customer-algorithm": "AES256",
                "x-amz-server-side-encryption-customer-key": base64.b64encode(b"short").decode(),
                "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(
                    hashlib.md5(b"short").digest()
                ).decode(),
            },
            400,
            "InvalidArgument",
        ),
    ],
)
def test_sse_c_header_errors(c3: Any, headers: dict[str, str], status: int, code: str) -> None:
    bucket = "ssec-" + os.urandom(4).hex()
    c3.create_bucket(Bucket=bucket)

    def add(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    c3.meta.events.register_first("before-sign.s3.PutObject", add)
    try:
        with pytest.raises(ClientError) as exc:
            c3.put_object(Bucket=bucket, Key="x", Body=b"x")
    finally:
        c3.meta.events.unregister("before-sign.s3.PutObject", add)
    assert _error(exc) == (status, code)


def test_sse_c_copy_and_multipart(c3: Any) -> None:
    bucket = "ssec-" + os.urandom(4).hex()
    c3.create_bucket(Bucket=bucket)
    body = os.urandom(SEGMENT + 77)
    c3.put_object(Bucket=bucket, Key="src", Body=body, **ssec())
    source = {"Bucket": bucket, "Key": "src"}
    with pytest.raises(ClientError) as exc:  # the source's key is missing
        c3.copy_object(Bucket=bucket, Key="dst", CopySource=source)
    assert _error(exc) == (400, "InvalidRequest")
    c3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource=source,
        CopySourceSSECustomerAlgorithm="AES256",
        CopySourceSSECustomerKey=KEY,
        **ssec(OTHER),
    )
    assert c3.get_object(Bucket=bucket, Key="dst", **ssec(OTHER))["Body"].read() == body
    c3.copy_object(
        Bucket=bucket,
        Key="s3",
        CopySource=source,
        CopySourceSSECustomerAlgorithm="AES256",
        CopySourceSSECustomerKey=KEY,
        ServerSideEncryption="AES256",
    )
    assert c3.get_object(Bucket=bucket, Key="s3")["Body"].read() == body
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(100)]
    upload = c3.create_multipart_upload(Bucket=bucket, Key="mp", **ssec())
    uid = upload["UploadId"]
    with pytest.raises(ClientError) as exc:  # every part must carry the upload's key
        c3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=parts[0])
    assert _error(exc) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as exc:
        c3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=parts[0], **ssec(OTHER))
    assert _error(exc) == (400, "InvalidArgument")
    done = []
    for n, data in enumerate(parts, 1):
        r = c3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n, Body=data, **ssec())
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    c3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": done})
    assert c3.get_object(Bucket=bucket, Key="mp", **ssec())["Body"].read() == b"".join(parts)
    assert c3.get_object(Bucket=bucket, Key="mp", PartNumber=2, **ssec())["Body"].read() == parts[1]


def test_sse_kms_headers_and_refusals(s3: Any, s3e: Endpoint, bucket: str) -> None:
    body = os.urandom(SEGMENT + 5)
    context = base64.b64encode(b'{"app": "x"}').decode()
    put = s3.put_object(
        Bucket=bucket, Key="k", Body=body, ServerSideEncryption="aws:kms", SSEKMSEncryptionContext=context
    )
    arn = put["SSEKMSKeyId"]
    assert arn.startswith("arn:aws:kms:") and ":key/" in arn and put["SSEKMSEncryptionContext"] == context
    assert put["ETag"] != f'"{hashlib.md5(body).hexdigest()}"'
    stored = _stored(s3e, bucket, "k")
    assert body[:64] not in stored and len(stored) > len(body)
    got = s3.get_object(Bucket=bucket, Key="k", Range="bytes=10-70000")
    assert (got["SSEKMSKeyId"], got["Body"].read()) == (arn, body[10:70001])
    assert "SSEKMSEncryptionContext" not in got  # S3 returns the context on writes only
    alias = s3.put_object(
        Bucket=bucket, Key="a", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/aws/s3"
    )
    assert alias["SSEKMSKeyId"] == arn  # the default key is alias/aws/s3
    for extra, status, code in [
        ({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/none"}, 400, "KMS.NotFoundException"),
        (
            {"ServerSideEncryption": "aws:kms", "SSEKMSEncryptionContext": "bm90IGpzb24="},
            400,
            "InvalidArgument",
        ),
        ({"ServerSideEncryption": "aws:kms:dsse"}, 501, "NotImplemented"),
    ]:
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="x", Body=b"x", **extra)
        error = exc.value.response
        assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (status, code)
