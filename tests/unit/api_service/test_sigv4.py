"""SigV4 verification against requests signed by botocore itself (and AWS's documented example)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from cairn.api_service import errors
from cairn.api_service.sigv4 import PayloadMode, RawRequest, _payload_mode, _SigningContext, verify
from cairn.signing import signing_key

from .signing import AKID, OWNER, SECRET, capture, client, drain, lookup, stream

NOW = lambda: datetime.now(UTC)  # noqa: E731 - botocore signs with the real clock


async def test_signed_put_over_http_verifies_body_hash() -> None:
    raw, body = capture(client(), "put_object", Bucket="b", Key="a b/c+d~é", Body=b"hello world")
    auth = await verify(raw, lookup, now=NOW())
    assert (auth.access_key_id, auth.owner_id, auth.payload_mode) == (AKID, OWNER, PayloadMode.SIGNED)
    assert await drain(auth.body(stream(body, [3, 4]))) == b"hello world"
    with pytest.raises(errors.XAmzContentSHA256Mismatch):
        await drain(auth.body(stream(b"hello worle")))


async def test_streaming_unsigned_trailer_over_https_decodes_and_exposes_checksum() -> None:
    raw, wire = capture(client("https://127.0.0.1:9000"), "put_object", Bucket="b", Key="k", Body=b"x" * 5000)
    auth = await verify(raw, lookup, now=NOW())
    assert auth.payload_mode is PayloadMode.STREAMING_UNSIGNED_TRAILER
    assert auth.decoded_length == 5000 and auth.trailer_names == ("x-amz-checksum-crc32",)
    body = auth.body(stream(wire, range(1, len(wire), 7)))
    assert await drain(body) == b"x" * 5000
    assert set(body.trailers) == {"x-amz-checksum-crc32"}


async def test_decoded_length_mismatch_is_incomplete_body() -> None:
    raw, wire = capture(client("https://127.0.0.1:9000"), "put_object", Bucket="b", Key="k", Body=b"abc")
    auth = await verify(raw, lookup, now=NOW())
    auth = dataclasses.replace(auth, decoded_length=4)
    with pytest.raises(errors.IncompleteBody):
        await drain(auth.body(stream(wire)))


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("list_buckets", {}),
        ("list_objects_v2", {"Bucket": "b", "Prefix": "a/b c", "Delimiter": "/", "StartAfter": "x=y&z"}),
        ("get_object", {"Bucket": "b", "Key": "dir/../k%20!*'()", "Range": "bytes=0-9"}),
        ("delete_objects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "a"}]}}),
        ("upload_part", {"Bucket": "b", "Key": "k", "UploadId": "u/1+2", "PartNumber": 3, "Body": b"p"}),
        ("create_multipart_upload", {"Bucket": "b", "Key": "k", "Metadata": {"a": "  b  c "}}),
    ],
)
async def test_botocore_operations_verify(operation: str, params: dict) -> None:
    raw, _ = capture(client(), operation, **params)
    auth = await verify(raw, lookup, now=NOW())
    assert auth.access_key_id == AKID


async def test_tampered_header_path_query_and_method_fail() -> None:
    raw, _ = capture(client(), "get_object", Bucket="b", Key="k", Range="bytes=0-9")
    tampered = [
        dataclasses.replace(raw, headers={**raw.headers, "range": "bytes=0-10"}),
        dataclasses.replace(raw, raw_path="/b/k2"),
        dataclasses.replace(raw, query_string="versionId=1"),
        dataclasses.replace(raw, method="DELETE"),
    ]
    for request in tampered:
        with pytest.raises(errors.SignatureDoesNotMatch):
            await verify(request, lookup, now=NOW())


async def test_wrong_secret_unknown_key_and_anonymous() -> None:
    raw, _ = capture(client(secret="not-the-secret"), "list_buckets")
    with pytest.raises(errors.SignatureDoesNotMatch):
        await verify(raw, lookup, now=NOW())

    async def nobody(_: str) -> None:
        return None

    with pytest.raises(errors.InvalidAccessKeyId):
        await verify(raw, nobody, now=NOW())
    anonymous = await verify(RawRequest("GET", "/", "", {"host": "h"}), lookup, now=NOW())
    assert anonymous.anonymous and not anonymous.is_root and anonymous.owner_id == ""


async def test_an_anonymous_body_hash_is_still_checked_and_streaming_needs_a_signature() -> None:
    digest = hashlib.sha256(b"body").hexdigest()
    anonymous = await verify(
        RawRequest("PUT", "/b/k", "", {"host": "h", "x-amz-content-sha256": digest}), lookup, now=NOW()
    )
    assert anonymous.anonymous and anonymous.payload_mode is PayloadMode.SIGNED
    with pytest.raises(errors.XAmzContentSHA256Mismatch):
        async for _ in anonymous.body(_chunks(b"other")):
            pass
    for mode in ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"):
        with pytest.raises(errors.AccessDenied):
            await verify(
                RawRequest("PUT", "/b/k", "", {"host": "h", "x-amz-content-sha256": mode}), lookup, now=NOW()
            )


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_clock_skew_over_15_minutes() -> None:
    raw, _ = capture(client(), "list_buckets")
    await verify(raw, lookup, now=NOW() + timedelta(minutes=14))
    with pytest.raises(errors.RequestTimeTooSkewed):
        await verify(raw, lookup, now=NOW() + timedelta(minutes=16))
    with pytest.raises(errors.RequestTimeTooSkewed):
        await verify(raw, lookup, now=NOW() - timedelta(minutes=16))


async def test_region_is_enforced_when_configured() -> None:
    raw, _ = capture(client(), "list_buckets")
    await verify(raw, lookup, now=NOW(), region="us-east-1")
    with pytest.raises(errors.AuthorizationHeaderMalformed):
        await verify(raw, lookup, now=NOW(), region="eu-west-1")


def _presigned(operation: str, params: dict, expires: int = 60) -> RawRequest:
    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    url = s3.generate_presigned_url(operation, Params=params, ExpiresIn=expires)
    parts = urlsplit(url)
    method = {"get_object": "GET", "put_object": "PUT"}[operation]
    return RawRequest(method, parts.path, parts.query, {"host": parts.netloc})


async def test_presigned_get_and_put() -> None:
    for operation in ("get_object", "put_object"):
        raw = _presigned(operation, {"Bucket": "b", "Key": "some dir/k~ü+1"})
        auth = await verify(raw, lookup, now=NOW())
        assert auth.presigned and auth.payload_mode is PayloadMode.UNSIGNED
        assert await drain(auth.body(stream(b"anything"))) == b"anything"


async def test_unsigned_amz_headers_are_refused() -> None:
    """A holder of a signed request must not add x-amz-* headers: a presigned PUT turned into a
    copy of a private object, or a signed PUT given extra metadata, is AccessDenied."""
    presigned_put = _presigned("put_object", {"Bucket": "b", "Key": "upload.txt"})
    signed_put, _ = capture(client(), "put_object", Bucket="b", Key="k", Body=b"x")
    added = [
        dataclasses.replace(
            presigned_put, headers={**presigned_put.headers, "x-amz-copy-source": "/b/secret"}
        ),
        dataclasses.replace(signed_put, headers={**signed_put.headers, "x-amz-meta-injected": "yes"}),
        dataclasses.replace(signed_put, headers={**signed_put.headers, "X-Amz-Copy-Source": "/b/secret"}),
    ]
    for request in added:
        with pytest.raises(errors.AccessDenied) as exc:
            await verify(request, lookup, now=NOW())
        assert "not signed" in exc.value.message
    # Headers that are not x-amz-* may be added freely, as with AWS.
    extra = dataclasses.replace(
        presigned_put, headers={**presigned_put.headers, "content-type": "text/plain"}
    )
    assert (await verify(extra, lookup, now=NOW())).presigned


async def test_presigned_expiry_and_limits() -> None:
    raw = _presigned("get_object", {"Bucket": "b", "Key": "k"}, expires=60)
    with pytest.raises(errors.AccessDenied, match="Request has expired"):
        await verify(raw, lookup, now=NOW() + timedelta(seconds=120))
    with pytest.raises(errors.SignatureDoesNotMatch):
        await verify(
            dataclasses.replace(
                raw, query_string=raw.query_string.replace("X-Amz-Expires=60", "X-Amz-Expires=600")
            ),
            lookup,
            now=NOW(),
        )
    request = AWSRequest("GET", "http://127.0.0.1:9000/b/k")
    S3SigV4QueryAuth(BotoCredentials(AKID, SECRET), "s3", "us-east-1", expires=604801).add_auth(request)
    parts = urlsplit(request.url)
    with pytest.raises(errors.AuthorizationQueryParametersError):
        await verify(RawRequest("GET", parts.path, parts.query, {"host": parts.netloc}), lookup, now=NOW())


class _StreamingSigner(S3SigV4Auth):
    def payload(self, request: AWSRequest) -> str:
        return request.headers["X-Amz-Content-SHA256"]

    def _modify_request_before_signing(self, request: AWSRequest) -> None:
        mode = request.headers["X-Amz-Content-SHA256"]
        super()._modify_request_before_signing(request)
        del request.headers["X-Amz-Content-SHA256"]
        request.headers["X-Amz-Content-SHA256"] = mode


def _signed_streaming(
    data: bytes, chunk: int, trailer: bool, flip: int | None = None
) -> tuple[RawRequest, bytes]:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] request: seed signed by botocore, chunks chained."""
    mode = PayloadMode.STREAMING_SIGNED_TRAILER if trailer else PayloadMode.STREAMING_SIGNED
    headers = {
        "X-Amz-Content-SHA256": mode.value,
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
    }
    if trailer:
        headers["X-Amz-Trailer"] = "x-amz-checksum-sha256"
    request = AWSRequest("PUT", "http://127.0.0.1:9000/b/k", headers=headers)
    _StreamingSigner(BotoCredentials(AKID, SECRET), "s3", "us-east-1").add_auth(request)
    amz_date = request.headers["X-Amz-Date"]
    seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    ctx = _SigningContext(signing_key(SECRET, amz_date[:8], "us-east-1"), amz_date, scope, seed)
    wire, previous = bytearray(), seed
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for n, piece in enumerate(pieces):
        sig = ctx.chunk_signature(previous, hashlib.sha256(piece).hexdigest())
        previous = sig
        if flip == n:
            piece = bytes([piece[0] ^ 1]) + piece[1:]
        wire += b"%x;chunk-signature=%s\r\n%s" % (len(piece), sig.encode(), piece)
        wire += b"\r\n" if piece else b""
    if trailer:
        import base64

        line = f"x-amz-checksum-sha256:{base64.b64encode(hashlib.sha256(data).digest()).decode()}"
        trailer_sig = ctx.trailer_signature(previous, (line + "\n").encode())
        wire += f"{line}\r\nx-amz-trailer-signature:{trailer_sig}\r\n".encode()
    wire += b"\r\n"
    raw, _ = _to_raw(request)
    return raw, bytes(wire)


def _to_raw(request: AWSRequest) -> tuple[RawRequest, bytes]:
    from .signing import to_raw

    return to_raw(request.prepare())


@pytest.mark.parametrize("trailer", [False, True])
async def test_streaming_signed_every_chunk_verified(trailer: bool) -> None:
    data = bytes(range(256)) * 40
    raw, wire = _signed_streaming(data, 4000, trailer)
    auth = await verify(raw, lookup, now=NOW())
    body = auth.body(stream(wire, range(5, len(wire), 999)))
    assert await drain(body) == data
    if trailer:
        assert "x-amz-checksum-sha256" in body.trailers
    raw, wire = _signed_streaming(data, 4000, trailer, flip=1)
    auth = await verify(raw, lookup, now=NOW())
    with pytest.raises(errors.SignatureDoesNotMatch):
        await drain(auth.body(stream(wire)))


async def test_streaming_signed_tampered_trailer_fails() -> None:
    data = b"z" * 100
    raw, wire = _signed_streaming(data, 64, True)
    auth = await verify(raw, lookup, now=NOW())
    bad = wire.replace(b"x-amz-checksum-sha256:", b"x-amz-checksum-sha256:A")
    with pytest.raises(errors.SignatureDoesNotMatch):
        await drain(auth.body(stream(bad)))


def test_aws_documented_streaming_example() -> None:
    """The chunk signatures of AWS's "PUT Object" example in sigv4-streaming (65 KB of 'a')."""
    key = signing_key(SECRET, "20130524", "us-east-1")
    seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    ctx = _SigningContext(key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", seed)
    s1 = ctx.chunk_signature(seed, hashlib.sha256(b"a" * 65536).hexdigest())
    s2 = ctx.chunk_signature(s1, hashlib.sha256(b"a" * 1024).hexdigest())
    s3 = ctx.chunk_signature(s2, hashlib.sha256(b"").hexdigest())
    assert s1 == "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    assert s2 == "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
    assert s3 == "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"


async def test_aws_documented_seed_signature() -> None:
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
        "aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class,"
        "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    }
    raw = RawRequest("PUT", "/examplebucket/chunkObject.txt", "", headers)
    auth = await verify(raw, lookup, now=datetime(2013, 5, 24, 0, 5, tzinfo=UTC))
    assert auth.payload_mode is PayloadMode.STREAMING_SIGNED and auth.decoded_length == 66560


def _presigned_v2(operation: str, params: dict, expires: int = 60) -> RawRequest:
    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(s3={"addressing_style": "path"}),
    )
    url = s3.generate_presigned_url(operation, Params=params, ExpiresIn=expires)
    parts = urlsplit(url)
    assert "AWSAccessKeyId=" in parts.query  # boto3's default presigner still signs V2
    method = {"get_object": "GET", "put_object": "PUT"}[operation]
    return RawRequest(method, parts.path, parts.query, {"host": parts.netloc})


async def test_legacy_v2_presigned_urls() -> None:
    params = {"Bucket": "b", "Key": "dir/k ü+1", "ResponseContentType": "text/plain", "VersionId": "v1"}
    raw = _presigned_v2("get_object", params)
    auth = await verify(raw, lookup, now=NOW())
    assert auth.presigned and auth.payload_mode is PayloadMode.UNSIGNED and auth.owner_id == OWNER
    await verify(_presigned_v2("put_object", {"Bucket": "b", "Key": "k"}), lookup, now=NOW())
    with pytest.raises(errors.AccessDenied, match="expired"):
        await verify(raw, lookup, now=NOW() + timedelta(seconds=120))
    with pytest.raises(errors.SignatureDoesNotMatch):
        await verify(dataclasses.replace(raw, raw_path="/b/other"), lookup, now=NOW())
    with pytest.raises(errors.SignatureDoesNotMatch):
        await verify(dataclasses.replace(raw, method="DELETE"), lookup, now=NOW())


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("UNSIGNED-PAYLOAD", PayloadMode.UNSIGNED),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", PayloadMode.STREAMING_SIGNED),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", PayloadMode.STREAMING_SIGNED_TRAILER),
        ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", PayloadMode.STREAMING_UNSIGNED_TRAILER),
        (hashlib.sha256(b"").hexdigest().upper(), PayloadMode.SIGNED),
        ("signed", None),  # the name of the SIGNED mode is not a value a client may send
        ("unsigned-payload", None),
        ("UNSIGNED-PAYLOAD ", None),
        ("0" * 63, None),
    ],
)
def test_x_amz_content_sha256_names_a_payload_mode_or_is_refused(
    value: str, mode: PayloadMode | None
) -> None:
    if mode is None:
        with pytest.raises(errors.InvalidArgument):
            _payload_mode(value)
    else:
        assert _payload_mode(value) is mode
