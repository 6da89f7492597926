"""Authentication, authorization and error bodies as a client sees them.

SigV4 in its forms (header, presigned query, signed body hash, UNSIGNED-PAYLOAD, signed aws-chunked
streaming, unsigned and signed trailers), the errors for bad credentials, clock skew and expired
URLs, unsupported S3 features (501, or S3's 4xx where S3 has them switched off as every Cairn
bucket does: ACLs and Object Lock), and the S3 XML error body with a request id. Requests that
boto3 cannot produce are signed here with botocore's S3SigV4Auth (header signature) plus the
documented aws-chunked chaining, and sent with http.client.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import importlib.util
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.cluster import RunningCluster
from tests.support.raw_http import PayloadAuth

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def status_code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"e2e-auth-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def client(cluster: RunningCluster, access_key: str, secret_key: str, **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=cluster.endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=cluster.region,
        verify=cluster.tls_cert if cluster.tls_cert else None,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
    )


@contextlib.contextmanager
def frozen_clock(offset: dt.timedelta) -> Iterator[None]:
    """Patch the clock botocore signs with (the server keeps the real one): both the Python
    signer and, when awscrt is installed (botocore then signs S3 requests with the CRT), the
    CRT signer, which imports the clock function under its own name."""
    moment = dt.datetime.now(dt.UTC) + offset

    def now(remove_tzinfo: bool = True) -> dt.datetime:
        return moment.replace(tzinfo=None) if remove_tzinfo else moment

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch("botocore.auth.get_current_datetime", now))
        if importlib.util.find_spec("awscrt") is not None:
            stack.enter_context(mock.patch("botocore.crt.auth.get_current_datetime", now))
        yield


# --- raw requests ---------------------------------------------------------------------------------


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> tuple[str, str]:
        """(Code, RequestId) from an S3 XML error body."""
        root = ET.fromstring(self.body)
        assert root.tag == "Error", self.body[:300]
        return root.findtext("Code") or "", root.findtext("RequestId") or ""


def ssl_context(cluster: RunningCluster) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=cluster.tls_cert) if cluster.tls_cert else None


def send(cluster: RunningCluster, method: str, url: str, headers: dict[str, str], body: bytes) -> Raw:
    """Send to the cluster's address whatever host `url` names (the Host header keeps the name)."""
    parts = urllib.parse.urlsplit(url)
    address = urllib.parse.urlsplit(cluster.endpoint).netloc
    if parts.netloc != address:
        headers = {**headers, "Host": parts.netloc}
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(address, timeout=30, context=ssl_context(cluster))
    else:
        conn = http.client.HTTPConnection(address, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        return Raw(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


@dataclass
class Signed:
    url: str
    headers: dict[str, str]
    signature: str
    timestamp: str
    scope: str
    signing_key: bytes


def sign(
    cluster: RunningCluster,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    payload_hash: str = EMPTY_SHA256,
    access_key: str | None = None,
    secret_key: str | None = None,
    host: str | None = None,
) -> Signed:
    parts = urllib.parse.urlsplit(cluster.endpoint)
    url = (
        f"{parts.scheme}://{host or parts.netloc}" + urllib.parse.quote(path) + (f"?{query}" if query else "")
    )
    secret = secret_key or cluster.secret_key
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    PayloadAuth(Credentials(access_key or cluster.access_key, secret), cluster.region, payload_hash).add_auth(
        request
    )
    signed = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    timestamp = signed["X-Amz-Date"]
    date = timestamp[:8]
    scope = f"{date}/{cluster.region}/s3/aws4_request"
    key = ("AWS4" + secret).encode()
    for part in (date, cluster.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = signed["Authorization"].rsplit("Signature=", 1)[1]
    return Signed(url, signed, signature, timestamp, scope, key)


def raw(
    cluster: RunningCluster, method: str, path: str, *, body: bytes = b"", query: str = "", **kw: Any
) -> Raw:
    signed = sign(cluster, method, path, query=query, payload_hash=hashlib.sha256(body).hexdigest(), **kw)
    return send(cluster, method, signed.url, signed.headers, body)


def hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def aws_chunked(
    cluster: RunningCluster,
    path: str,
    data: bytes,
    *,
    mode: str,
    chunk: int = 64 * 1024,
    trailer: str | None = None,
    tamper_chunk: int | None = None,
) -> Raw:
    """PUT `data` with Content-Encoding aws-chunked in one of the streaming modes."""
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
    }
    if trailer is not None:
        headers["X-Amz-Trailer"] = "x-amz-checksum-crc32"
    signed = sign(cluster, "PUT", path, headers=headers, payload_hash=mode)
    chunk_signed = mode.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    previous = signed.signature
    wire = bytearray()
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for index, piece in enumerate(pieces):
        if chunk_signed:
            to_sign = "\n".join(
                [
                    "AWS4-HMAC-SHA256-PAYLOAD",
                    signed.timestamp,
                    signed.scope,
                    previous,
                    EMPTY_SHA256,
                    hashlib.sha256(piece).hexdigest(),
                ]
            )
            previous = hmac_hex(signed.signing_key, to_sign)
            wire += f"{len(piece):x};chunk-signature={previous}\r\n".encode()
        else:
            wire += f"{len(piece):x}\r\n".encode()
        sent = piece
        if tamper_chunk == index and piece:
            sent = bytes([piece[0] ^ 0xFF]) + piece[1:]
        if piece or trailer is None:
            wire += sent + b"\r\n"
    if trailer is not None:
        canonical = f"x-amz-checksum-crc32:{trailer}\n"
        wire += canonical.replace("\n", "\r\n").encode()
        if chunk_signed:
            to_sign = "\n".join(
                [
                    "AWS4-HMAC-SHA256-TRAILER",
                    signed.timestamp,
                    signed.scope,
                    previous,
                    hashlib.sha256(canonical.encode()).hexdigest(),
                ]
            )
            wire += f"x-amz-trailer-signature:{hmac_hex(signed.signing_key, to_sign)}\r\n".encode()
        wire += b"\r\n"
    return send(cluster, "PUT", signed.url, signed.headers, bytes(wire))


# --- presigned URLs -------------------------------------------------------------------------------


@pytest.fixture
def presigner(cluster: RunningCluster) -> Any:
    return cluster.s3_client(signature_version="s3v4")


def urlopen(cluster: RunningCluster, request: urllib.request.Request | str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=30, context=ssl_context(cluster)) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def xml_code(body: bytes) -> str:
    return ET.fromstring(body).findtext("Code") or ""


def test_presigned_get(cluster: RunningCluster, s3: Any, presigner: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared file.txt", Body=b"presigned body")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared file.txt"}, ExpiresIn=60
    )
    assert "X-Amz-Signature=" in url
    assert urlopen(cluster, url) == (200, b"presigned body")


def test_default_boto3_presigned_url(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    """boto3's default presigner for a custom endpoint in us-east-1 still produces SigV2 query URLs."""
    s3.put_object(Bucket=bucket, Key="legacy", Body=b"v2 url")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "legacy"}, ExpiresIn=60)
    assert urlopen(cluster, url) == (200, b"v2 url")
    signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["Signature"][0]
    status, body = urlopen(cluster, url.replace(urllib.parse.quote(signature, safe=""), "AAAA"))
    assert (status, xml_code(body)) == (403, "SignatureDoesNotMatch")


def test_presigned_put(cluster: RunningCluster, s3: Any, presigner: Any, bucket: str) -> None:
    url = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded"}, ExpiresIn=60
    )
    status, _ = urlopen(cluster, urllib.request.Request(url, data=b"uploaded by url", method="PUT"))
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="uploaded")["Body"].read() == b"uploaded by url"


def test_presigned_url_with_tampered_signature(
    cluster: RunningCluster, s3: Any, presigner: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Signature"][0]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    status, body = urlopen(cluster, url.replace(signature, flipped))
    assert (status, xml_code(body)) == (403, "SignatureDoesNotMatch")
    # The same signature on another key does not open it either.
    s3.put_object(Bucket=bucket, Key="other", Body=b"other secret")
    status, body = urlopen(cluster, url.replace(f"/{bucket}/k?", f"/{bucket}/other?"))
    assert (status, xml_code(body)) == (403, "SignatureDoesNotMatch")


def test_presigned_put_with_tampered_signature_writes_nothing(
    cluster: RunningCluster, s3: Any, presigner: Any, bucket: str
) -> None:
    url = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "nope"}, ExpiresIn=60
    )
    signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Signature"][0]
    tampered = url.replace(signature, signature[::-1])
    status, body = urlopen(cluster, urllib.request.Request(tampered, data=b"x", method="PUT"))
    assert (status, xml_code(body)) == (403, "SignatureDoesNotMatch")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_expired_presigned_url(cluster: RunningCluster, s3: Any, presigner: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old news")
    with frozen_clock(-dt.timedelta(minutes=10)):  # signed 10 min ago, valid for 60 s
        url = presigner.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60
        )
    status, body = urlopen(cluster, url)
    assert (status, xml_code(body)) == (403, "AccessDenied")


def test_expired_presigned_put_is_access_denied_and_writes_nothing(
    cluster: RunningCluster, s3: Any, presigner: Any, bucket: str
) -> None:
    """Issue 12: AWS answers 403 AccessDenied "Request has expired" for a PUT as for a GET."""
    with frozen_clock(-dt.timedelta(minutes=10)):
        url = presigner.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": "late"}, ExpiresIn=60
        )
    status, body = urlopen(cluster, urllib.request.Request(url, data=b"too late", method="PUT"))
    assert (status, xml_code(body)) == (403, "AccessDenied")
    assert b"Request has expired" in body
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_presigned_url_valid_for_more_than_seven_days_is_refused(
    cluster: RunningCluster, s3: Any, presigner: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=7 * 86400 + 1
    )
    status, body = urlopen(cluster, url)
    assert (status, xml_code(body)) == (400, "AuthorizationQueryParametersError")


# --- header signatures ----------------------------------------------------------------------------


def test_wrong_secret_key(cluster: RunningCluster, bucket: str, s3: Any) -> None:
    bad = client(cluster, cluster.access_key, cluster.secret_key[::-1] + "x")
    with pytest.raises(ClientError) as exc:
        bad.list_buckets()
    assert status_code(exc) == (403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as exc:
        bad.put_object(Bucket=bucket, Key="forged", Body=b"x")
    assert status_code(exc) == (403, "SignatureDoesNotMatch")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_unknown_access_key(cluster: RunningCluster, bucket: str) -> None:
    unknown = client(cluster, "AKIAUNKNOWNKEY000000", "whatever-secret-key-0000000000000000000")
    with pytest.raises(ClientError) as exc:
        unknown.list_buckets()
    assert status_code(exc) == (403, "InvalidAccessKeyId")
    with pytest.raises(ClientError) as exc:
        unknown.get_object(Bucket=bucket, Key="k")
    assert status_code(exc) == (403, "InvalidAccessKeyId")


@pytest.mark.parametrize("minutes", [20, -20])
def test_clock_skew_over_15_minutes(cluster: RunningCluster, s3: Any, minutes: int) -> None:
    with frozen_clock(dt.timedelta(minutes=minutes)), pytest.raises(ClientError) as exc:
        s3.list_buckets()
    assert status_code(exc) == (403, "RequestTimeTooSkewed")


def test_clock_skew_under_15_minutes_is_accepted(s3: Any) -> None:
    with frozen_clock(dt.timedelta(minutes=-10)):
        assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_anonymous_requests_are_denied(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="private", Body=b"x")
    for method, path, body in (
        ("GET", f"/{bucket}", b""),
        ("GET", f"/{bucket}/private", b""),
        ("PUT", f"/{bucket}/anon", b"x"),
    ):
        response = send(cluster, method, cluster.endpoint + path, {}, body)
        assert response.status == 403, (method, path)
        assert response.error()[0] == "AccessDenied"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["private"]


def test_body_not_matching_the_signed_hash(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    signed = sign(cluster, "PUT", f"/{bucket}/k", payload_hash=hashlib.sha256(b"what was signed").hexdigest())
    response = send(cluster, "PUT", signed.url, signed.headers, b"what was sent!!")
    assert response.status == 400
    assert response.error()[0] == "XAmzContentSHA256Mismatch"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_unsigned_payload(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    signed = sign(cluster, "PUT", f"/{bucket}/unsigned", payload_hash="UNSIGNED-PAYLOAD")
    response = send(cluster, "PUT", signed.url, signed.headers, b"body without hash")
    assert response.status == 200, response.body[:300]
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == b"body without hash"


def test_virtual_hosted_style_addressing(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    port = urllib.parse.urlsplit(cluster.endpoint).port
    vhost = f"{bucket}.s3.localhost:{port}"  # cairn's default base domain for virtual hosts
    put = raw(cluster, "PUT", "/dir/virtual.txt", body=b"via virtual host", host=vhost)
    assert put.status == 200, put.body[:300]
    assert s3.get_object(Bucket=bucket, Key="dir/virtual.txt")["Body"].read() == b"via virtual host"

    s3.put_object(Bucket=bucket, Key="path-style", Body=b"via path")
    got = raw(cluster, "GET", "/path-style", host=vhost)
    assert (got.status, got.body) == (200, b"via path")
    listing = raw(cluster, "GET", "/", query="list-type=2", host=vhost)
    assert listing.status == 200
    root = ET.fromstring(listing.body)
    keys = [e.text for e in root.iter() if e.tag.endswith("}Key") or e.tag == "Key"]
    assert keys == ["dir/virtual.txt", "path-style"]


def test_single_put_over_5_gib_is_entity_too_large(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    """Refused from the headers alone: the client never has to send the 5 GiB."""
    signed = sign(cluster, "PUT", f"/{bucket}/huge", payload_hash="UNSIGNED-PAYLOAD")
    address = urllib.parse.urlsplit(cluster.endpoint).netloc
    conn = (
        http.client.HTTPSConnection(address, timeout=30, context=ssl_context(cluster))
        if cluster.endpoint.startswith("https")
        else http.client.HTTPConnection(address, timeout=30)
    )
    try:
        conn.putrequest("PUT", urllib.parse.urlsplit(signed.url).path)
        for name, value in signed.headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(5 * 1024**3 + 1))
        conn.endheaders()
        conn.send(b"x" * 1024)  # a little of the body, as a client would have started sending
        response = conn.getresponse()
        status, body = response.status, response.read()
    finally:
        conn.close()
    assert status == 400
    assert ET.fromstring(body).findtext("Code") == "EntityTooLarge"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="huge")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# --- aws-chunked streaming ------------------------------------------------------------------------

STREAM_DATA = bytes(range(256)) * 1000  # 256000 bytes: 4 chunks of 64 KiB


def test_signed_streaming_payload(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    response = aws_chunked(
        cluster, f"/{bucket}/streamed", STREAM_DATA, mode="STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    )
    assert response.status == 200, response.body[:300]
    got = s3.get_object(Bucket=bucket, Key="streamed")
    assert got["ContentLength"] == len(STREAM_DATA)
    assert got["Body"].read() == STREAM_DATA
    assert "aws-chunked" not in got.get("ContentEncoding", "")


def test_signed_streaming_payload_with_a_forged_chunk(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    response = aws_chunked(
        cluster, f"/{bucket}/forged", STREAM_DATA, mode="STREAMING-AWS4-HMAC-SHA256-PAYLOAD", tamper_chunk=2
    )
    assert response.status == 403
    assert response.error()[0] == "SignatureDoesNotMatch"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.parametrize(
    "mode", ["STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"]
)
def test_streaming_with_crc32_trailer(cluster: RunningCluster, s3: Any, bucket: str, mode: str) -> None:
    good = aws_chunked(cluster, f"/{bucket}/trailed", STREAM_DATA, mode=mode, trailer=crc32_b64(STREAM_DATA))
    assert good.status == 200, good.body[:300]
    got = s3.get_object(Bucket=bucket, Key="trailed", ChecksumMode="ENABLED")
    assert got["Body"].read() == STREAM_DATA
    assert got["ChecksumCRC32"] == crc32_b64(STREAM_DATA)

    bad = aws_chunked(cluster, f"/{bucket}/bad-trailer", STREAM_DATA, mode=mode, trailer=crc32_b64(b"other"))
    assert bad.status == 400
    assert bad.error()[0] == "BadDigest"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="bad-trailer")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# --- not implemented features ---------------------------------------------------------------------

UNSUPPORTED: list[tuple[str, dict[str, Any]]] = [
    (
        "put_bucket_lifecycle_configuration",  # transitions: Cairn has one storage class
        {
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "ID": "r",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
                    }
                ]
            }
        },
    ),
    ("put_bucket_website", {"WebsiteConfiguration": {"IndexDocument": {"Suffix": "index.html"}}}),
]


@pytest.mark.parametrize(("operation", "params"), UNSUPPORTED, ids=[op for op, _ in UNSUPPORTED])
def test_unsupported_features_answer_not_implemented(
    s3: Any, bucket: str, operation: str, params: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as exc:
        getattr(s3, operation)(Bucket=bucket, **params)
    assert status_code(exc) == (501, "NotImplemented")
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id")


def test_acls_are_disabled_as_s3_object_ownership_bucket_owner_enforced(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert status_code(exc) == (400, "AccessControlListNotSupported")
    with pytest.raises(ClientError) as exc:
        s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert status_code(exc) == (400, "AccessControlListNotSupported")
    owner = s3.list_buckets()["Owner"]["ID"]
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert [(g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] == [(owner, "FULL_CONTROL")]


def test_object_lock_is_absent(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert status_code(exc) == (404, "ObjectLockConfigurationNotFoundError")
    with pytest.raises(ClientError) as exc:
        s3.get_object_retention(Bucket=bucket, Key="k")
    assert status_code(exc) == (400, "InvalidRequest")


def test_unsupported_object_subresource(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket=bucket, Key="k", RestoreRequest={"Days": 1})
    assert status_code(exc) == (501, "NotImplemented")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


UNSUPPORTED_PUT_HEADERS = [
    pytest.param({"ServerSideEncryption": "aws:kms:dsse"}, (501, "NotImplemented"), id="dsse-kms"),
    # S3's answer on a bucket without Object Lock, which every Cairn bucket is
    pytest.param(
        {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": dt.datetime(2035, 1, 1, tzinfo=dt.UTC)},
        (400, "InvalidRequest"),
        id="object-lock-retention",
    ),
    pytest.param({"ObjectLockLegalHoldStatus": "ON"}, (400, "InvalidRequest"), id="object-lock-legal-hold"),
    pytest.param({"Tagging": "a=b&a=c"}, (400, "InvalidTag"), id="tagging-duplicate-key"),
]


@pytest.mark.parametrize(("params", "expected"), UNSUPPORTED_PUT_HEADERS)
def test_put_with_an_unsupported_feature_is_refused(
    s3: Any, bucket: str, params: dict[str, Any], expected: tuple[int, str]
) -> None:
    """A PUT asking for DSSE-KMS, object lock, ... (or with a broken tag set) must not succeed."""
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="feature", Body=b"x", **params)
    assert status_code(exc) == expected
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="feature")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"ACL": "public-read"}, id="canned-public-read"),
        pytest.param({"GrantRead": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'}, id="grant"),
    ],
)
def test_put_with_a_public_acl_is_refused(s3: Any, bucket: str, params: dict[str, Any]) -> None:
    """ACLs are disabled: a request to make an object public must fail, not silently stay private,
    with S3's 400 for buckets with ACLs disabled (which clients do not retry, unlike a 501)."""
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="public", Body=b"x", **params)
    assert status_code(exc) == (400, "AccessControlListNotSupported")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="public")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_website_redirect_location_is_kept_as_object_metadata(s3: Any, bucket: str) -> None:
    """S3 stores x-amz-website-redirect-location with the object whether or not website hosting is on."""
    s3.put_object(Bucket=bucket, Key="moved", Body=b"x", WebsiteRedirectLocation="/elsewhere")
    assert s3.head_object(Bucket=bucket, Key="moved")["WebsiteRedirectLocation"] == "/elsewhere"


@pytest.mark.parametrize("acl", ["private", "bucket-owner-full-control"])
def test_put_with_a_private_canned_acl_is_accepted(s3: Any, bucket: str, acl: str) -> None:
    """Many tools send these by default; they describe what Cairn does anyway."""
    s3.put_object(Bucket=bucket, Key="private", Body=b"x", ACL=acl)
    assert s3.get_object(Bucket=bucket, Key="private")["Body"].read() == b"x"


# --- error bodies ---------------------------------------------------------------------------------


@pytest.fixture
def error_cases(cluster: RunningCluster, s3: Any, bucket: str) -> Iterator[dict[str, Any]]:
    s3.put_object(Bucket=bucket, Key="present", Body=b"0123456789")
    yield {
        "NoSuchBucket": lambda: raw(cluster, "GET", f"/nobucket-{uuid.uuid4().hex[:12]}"),
        "NoSuchKey": lambda: raw(cluster, "GET", f"/{bucket}/absent"),
        "InvalidBucketName": lambda: raw(cluster, "PUT", "/Invalid_Bucket_Name"),
        "AccessDenied": lambda: send(cluster, "GET", f"{cluster.endpoint}/{bucket}", {}, b""),
        "SignatureDoesNotMatch": lambda: raw(cluster, "GET", f"/{bucket}", secret_key="not-the-secret"),
        "InvalidAccessKeyId": lambda: raw(cluster, "GET", f"/{bucket}", access_key="AKIANOSUCHKEY0000000"),
        "NotImplemented": lambda: raw(cluster, "GET", f"/{bucket}", query="replication="),
        "InvalidRange": lambda: send_range(cluster, bucket),
        "MalformedXML": lambda: raw(cluster, "POST", f"/{bucket}", query="delete=", body=b"<Delete><Object>"),
        "KeyTooLongError": lambda: raw(cluster, "PUT", f"/{bucket}/{'k' * 1025}"),
    }


def send_range(cluster: RunningCluster, bucket: str) -> Raw:
    signed = sign(cluster, "GET", f"/{bucket}/present", headers={"Range": "bytes=100-200"})
    return send(cluster, "GET", signed.url, signed.headers, b"")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("NoSuchBucket", 404),
        ("NoSuchKey", 404),
        ("InvalidBucketName", 400),
        ("AccessDenied", 403),
        ("SignatureDoesNotMatch", 403),
        ("InvalidAccessKeyId", 403),
        ("NotImplemented", 501),
        ("InvalidRange", 416),
        ("MalformedXML", 400),
        ("KeyTooLongError", 400),
    ],
)
def test_error_bodies_are_s3_xml_with_request_id(error_cases: dict[str, Any], code: str, status: int) -> None:
    response: Raw = error_cases[code]()
    assert response.status == status, response.body[:300]
    assert response.headers.get("content-type", "").startswith("application/xml")
    body_code, request_id = response.error()
    assert body_code == code
    assert request_id
    assert response.headers.get("x-amz-request-id") == request_id
    assert ET.fromstring(response.body).findtext("Message")


def test_request_ids_are_unique(cluster: RunningCluster) -> None:
    ids = {raw(cluster, "GET", "/").headers.get("x-amz-request-id") for _ in range(5)}
    assert None not in ids
    assert len(ids) == 5


def test_xml_entities_are_not_expanded(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY k "keep">]>\n'
        b"<Delete><Object><Key>&xxe;</Key></Object><Object><Key>&k;</Key></Object></Delete>"
    )
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    response = raw(cluster, "POST", f"/{bucket}", query="delete=", body=body, headers={"Content-MD5": md5})
    assert b"root:" not in response.body
    assert response.status == 400
    assert response.error()[0] == "MalformedXML"
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"x"  # the entity did not delete it


# --- a second IAM user ----------------------------------------------------------------------------


def admin_json(cluster: RunningCluster, *argv: str) -> dict[str, Any]:
    assert cluster.data_dir is not None
    ran = subprocess.run(
        [sys.executable, "-m", "cairn", "admin", *argv, "--data-dir", str(cluster.data_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


@pytest.fixture
def other_user(cluster: RunningCluster) -> Any:
    if cluster.data_dir is None:
        pytest.skip("creating IAM users needs `cairn admin` and the local cluster's cluster.json")
    name = f"e2e-user-{uuid.uuid4().hex[:8]}"
    admin_json(cluster, "user", "create", name)
    key = admin_json(cluster, "key", "create", name)
    return client(cluster, key["access_key_id"], key["secret_access_key"])


def test_second_user_cannot_see_or_touch_roots_bucket(s3: Any, bucket: str, other_user: Any) -> None:
    s3.put_object(Bucket=bucket, Key="root-only", Body=b"root data")
    assert bucket not in {b["Name"] for b in other_user.list_buckets()["Buckets"]}

    denied: list[tuple[str, dict[str, Any]]] = [
        ("list_objects_v2", {}),
        ("get_object", {"Key": "root-only"}),
        ("put_object", {"Key": "intruder", "Body": b"x"}),
        ("delete_object", {"Key": "root-only"}),
        ("delete_objects", {"Delete": {"Objects": [{"Key": "root-only"}]}}),
        ("copy_object", {"Key": "copied", "CopySource": {"Bucket": bucket, "Key": "root-only"}}),
        ("create_multipart_upload", {"Key": "mpu"}),
        ("get_bucket_versioning", {}),
        ("put_bucket_versioning", {"VersioningConfiguration": {"Status": "Enabled"}}),
        ("delete_bucket", {}),
    ]
    for operation, params in denied:
        with pytest.raises(ClientError) as exc:
            getattr(other_user, operation)(Bucket=bucket, **params)
        assert status_code(exc) == (403, "AccessDenied"), operation
    with pytest.raises(ClientError) as exc:
        other_user.head_object(Bucket=bucket, Key="root-only")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as exc:
        other_user.create_bucket(Bucket=bucket)
    assert status_code(exc) == (409, "BucketAlreadyExists")

    # Nothing changed in root's bucket.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["root-only"]
    assert s3.get_object(Bucket=bucket, Key="root-only")["Body"].read() == b"root data"
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_second_user_owns_its_own_bucket(s3: Any, bucket: str, other_user: Any) -> None:
    own = f"e2e-own-{uuid.uuid4().hex[:12]}"
    other_user.create_bucket(Bucket=own)
    other_user.put_object(Bucket=own, Key="mine", Body=b"user data")
    assert [b["Name"] for b in other_user.list_buckets()["Buckets"]] == [own]
    assert other_user.get_object(Bucket=own, Key="mine")["Body"].read() == b"user data"
    # Copying out of root's bucket into its own is still denied (no read on the source).
    s3.put_object(Bucket=bucket, Key="root-only", Body=b"root data")
    with pytest.raises(ClientError) as exc:
        other_user.copy_object(Bucket=own, Key="stolen", CopySource={"Bucket": bucket, "Key": "root-only"})
    assert status_code(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        other_user.get_object(Bucket=own, Key="stolen")
    assert status_code(exc) == (404, "NoSuchKey")
