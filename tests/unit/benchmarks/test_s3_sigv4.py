"""The benchmark's SigV4 signer produces botocore's Authorization header for the same request, both
for sample requests and for what the raw S3 client actually sends."""

from __future__ import annotations

import datetime

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from http11 import Consume
from s3_ops import S3Client
from s3_sigv4 import SAMPLES, UNSIGNED_PAYLOAD, Signer, check_against_botocore, target

from tests.unit.benchmarks.scripted_server import Serve, fixed

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ENDPOINT = "http://127.0.0.1:9000"


def botocore_sign(method: str, request_target: str, extra: dict[str, str], region: str) -> AWSRequest:
    request = AWSRequest(method=method, url=ENDPOINT + request_target, headers=dict(extra))
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(Credentials(AKID, SECRET), "s3", region).add_auth(request)
    return request


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3"])
@pytest.mark.parametrize(("method", "path", "query", "extra"), SAMPLES)
def test_authorization_matches_botocore(
    method: str,
    path: str,
    query: tuple[tuple[str, str], ...],
    extra: tuple[tuple[str, str], ...],
    region: str,
) -> None:
    request_target = target(path, query)
    signed = botocore_sign(method, request_target, dict(extra), region)
    assert signed.headers["X-Amz-Content-SHA256"] == UNSIGNED_PAYLOAD
    headers = {
        "host": "127.0.0.1:9000",
        "x-amz-date": signed.headers["X-Amz-Date"],
        "x-amz-content-sha256": UNSIGNED_PAYLOAD,
        **dict(extra),
    }
    ours = Signer(AKID, SECRET, region).authorization(method, request_target, headers)
    assert ours == signed.headers["Authorization"]


def test_a_different_secret_is_a_different_signature() -> None:
    assert check_against_botocore(secret_key=SECRET) == []
    request_target = target("/b/k")
    signed = botocore_sign("GET", request_target, {}, "us-east-1")
    headers = {
        "host": "127.0.0.1:9000",
        "x-amz-date": signed.headers["X-Amz-Date"],
        "x-amz-content-sha256": UNSIGNED_PAYLOAD,
    }
    wrong = Signer(AKID, SECRET + "x", "us-east-1").authorization("GET", request_target, headers)
    assert wrong != signed.headers["Authorization"]


def test_the_signing_key_is_derived_once_per_day() -> None:
    signer = Signer(AKID, SECRET, "us-east-1")
    first = signer.signing_key("20250101")
    assert signer.signing_key("20250101") is first
    assert signer.signing_key("20250102") != first


def test_the_sent_target_is_the_canonical_one() -> None:
    assert (
        target("/b/a key/ü", [("prefix", "x/y"), ("list-type", "2")])
        == "/b/a%20key/%C3%BC?list-type=2&prefix=x%2Fy"
    )
    assert target("/b/k", [("uploads", "")]) == "/b/k?uploads="


XML_REPLY = b"<R><UploadId>u-1/x+y=</UploadId><IsTruncated>false</IsTruncated></R>"


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """Method, request-target and (lower-case) headers of a raw request head."""
    request_line, *lines = head.decode().split("\r\n")
    method, request_target, _ = request_line.split(" ")
    headers = dict(line.split(": ", 1) for line in lines if line)
    return method, request_target, {k.lower(): v for k, v in headers.items()}


async def test_the_raw_clients_requests_on_the_wire_carry_botocores_signature(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, conn = await serve(fixed(200, XML_REPLY))
    s3 = S3Client(f"http://127.0.0.1:{conn.port}", AKID, SECRET, "eu-west-3")
    await s3.put_object(conn, "bkt", "a key/ü+&=;", [b"hello ", b"world"])
    await s3.get_object(conn, "bkt", "bench/large/0001", Consume.DISCARD, (1024, 2047))
    await s3.list_page(conn, "bkt", "bench/list/", "YmVu/Y2g+a==", 1000)
    upload_id = await s3.create_multipart_upload(conn, "bkt", "mp")
    await s3.upload_part(conn, "bkt", "mp", upload_id, 7, [b"part"])
    await s3.complete_multipart_upload(conn, "bkt", "mp", upload_id, ['"e1"'])
    assert await s3.delete_objects(conn, "bkt", ["k1", "k<2>"]) == 0
    await s3.delete_object(conn, "bkt", "k1")
    await s3.delete_bucket(conn, "bkt")
    assert len(server.requests) == 9

    for head, body in server.requests:
        method, request_target, sent = parse_head(head)
        signed_names = sent["authorization"].split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
        assert {"host", "x-amz-date", "x-amz-content-sha256"} <= set(signed_names)
        assert sent["x-amz-content-sha256"] == UNSIGNED_PAYLOAD
        # botocore signs the same request (its signed headers, the same clock) from scratch
        moment = datetime.datetime.strptime(sent["x-amz-date"], "%Y%m%dT%H%M%SZ")
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda moment=moment: moment)
        extra = {n: sent[n] for n in signed_names if n not in ("host", "x-amz-date", "x-amz-content-sha256")}
        request = AWSRequest(method=method, url=s3.endpoint + request_target, headers=extra, data=body)
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
        S3SigV4Auth(Credentials(AKID, SECRET), "s3", "eu-west-3").add_auth(request)
        assert sent["authorization"] == request.headers["Authorization"], request_target
    range_get = parse_head(server.requests[1][0])[2]
    assert range_get["range"] == "bytes=1024-2047"  # sent, and not signed (as AWS SDKs do)
