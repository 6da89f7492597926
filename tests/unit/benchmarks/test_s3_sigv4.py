"""The benchmark's SigV4 signer produces botocore's Authorization header for the same request."""

from __future__ import annotations

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from s3_sigv4 import SAMPLES, UNSIGNED_PAYLOAD, Signer, check_against_botocore, target

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
