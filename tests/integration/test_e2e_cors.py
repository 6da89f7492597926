"""Bucket CORS end to end: Put/Get/DeleteBucketCors through boto3 and the aws CLI, validation as
S3 answers it, the browser preflight (raw unauthenticated OPTIONS requests) and the CORS headers
on actual requests (boto3 with an `Origin` header), errors included."""

from __future__ import annotations

import http.client
import json
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_e2e_aws_cli import aws, s3api
from tests.support.cluster import RunningCluster

VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
RULES: list[dict[str, Any]] = [
    {
        "ID": "uploads",
        "AllowedOrigins": ["https://app.example.com", "https://*.example.org"],
        "AllowedMethods": ["PUT", "POST"],
        "AllowedHeaders": ["content-type", "x-amz-*"],
        "ExposeHeaders": ["ETag", "x-amz-request-id"],
        "MaxAgeSeconds": 3000,
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"e2e-cors-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def options(cluster: RunningCluster, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """An unsigned OPTIONS request, as a browser sends it."""
    url = urlsplit(cluster.endpoint)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=20)
    try:
        conn.request("OPTIONS", path, headers=headers)
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


@pytest.fixture
def with_origin(cluster: RunningCluster) -> Any:
    """A boto3 client sending `Origin` (its `origin["value"]`) on every request."""
    client = cluster.s3_client()
    client.origin = {"value": "https://app.example.com"}

    def add(request: Any, **_: Any) -> None:
        request.headers["Origin"] = client.origin["value"]

    client.meta.events.register("before-sign.s3.*", add)
    return client


def test_put_get_delete_bucket_cors(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_of(missing)[:2] == (404, "NoSuchCORSConfiguration")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    replaced = [{"AllowedOrigins": ["http://a"], "AllowedMethods": ["DELETE"]}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": replaced})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == replaced
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as gone:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_of(gone)[:2] == (404, "NoSuchCORSConfiguration")
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as no_bucket:
        s3.get_bucket_cors(Bucket=bucket + "-missing")
    assert error_of(no_bucket)[:2] == (404, "NoSuchBucket")


@pytest.mark.parametrize(
    ("rules", "status", "code", "message"),
    [
        (
            [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}],
            400,
            "InvalidRequest",
            "Unsupported method is PATCH",
        ),
        (
            [{"AllowedOrigins": ["*"], "AllowedMethods": ["get"]}],
            400,
            "InvalidRequest",
            "Unsupported method is get",
        ),
        (
            [{"AllowedOrigins": ["http://*.*.a"], "AllowedMethods": ["GET"]}],
            400,
            "InvalidRequest",
            "more than one wildcard",
        ),
        (
            [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]}],
            400,
            "InvalidRequest",
            'AllowedHeader "x-*-*" can not have more than one wildcard.',
        ),
        (
            [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["*"]}],
            400,
            "InvalidRequest",
            "do not support wildcard for ExposeHeader",
        ),
        ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, 400, "MalformedXML", ""),
    ],
)
def test_invalid_cors_configurations_are_refused(
    s3: Any, bucket: str, rules: list[dict[str, Any]], status: int, code: str, message: str
) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    got_status, got_code, got_message = error_of(exc)
    assert (got_status, got_code) == (status, code)
    assert message in got_message
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)  # nothing was stored


def test_cors_rules_without_origin_or_method_are_malformed(cluster: RunningCluster, bucket: str) -> None:
    unchecked = cluster.s3_client(parameter_validation=False)  # sends what the SDK would refuse
    for rule in ({"AllowedMethods": ["GET"]}, {"AllowedOrigins": ["*"]}, {}):
        with pytest.raises(ClientError) as exc:
            unchecked.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
        assert error_of(exc)[:2] == (400, "MalformedXML")
    with pytest.raises(ClientError) as empty:
        unchecked.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": []})
    assert error_of(empty)[:2] == (400, "MalformedXML")


def test_aws_cli_round_trip(cluster: RunningCluster, bucket: str) -> None:
    s3api(
        cluster,
        "put-bucket-cors",
        "--bucket",
        bucket,
        "--cors-configuration",
        json.dumps({"CORSRules": RULES}),
    )
    assert s3api(cluster, "get-bucket-cors", "--bucket", bucket)["CORSRules"] == RULES
    s3api(cluster, "delete-bucket-cors", "--bucket", bucket)
    assert (
        "NoSuchCORSConfiguration"
        in aws(cluster, "s3api", "get-bucket-cors", "--bucket", bucket, check=False).stderr
    )


def test_preflight(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    status, headers, body = options(
        cluster,
        f"/{bucket}/some/key.txt",
        {
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Content-Type, x-amz-meta-note",
        },
    )
    assert status == 200 and body == b""
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-methods"] == "PUT, POST"
    assert headers["access-control-allow-headers"] == "Content-Type, x-amz-meta-note"
    assert headers["access-control-expose-headers"] == "ETag, x-amz-request-id"
    assert headers["access-control-max-age"] == "3000"
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["vary"] == VARY
    # a wildcard origin entry matches, on the bucket too
    status, headers, _ = options(
        cluster, f"/{bucket}", {"Origin": "https://x.example.org", "Access-Control-Request-Method": "POST"}
    )
    assert status == 200 and headers["access-control-allow-origin"] == "https://x.example.org"
    assert "access-control-allow-headers" not in headers
    # the `*` rule answers `*` and no credentials
    status, headers, _ = options(
        cluster, f"/{bucket}/k", {"Origin": "http://anyone", "Access-Control-Request-Method": "GET"}
    )
    assert status == 200 and headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "GET, HEAD"
    assert "access-control-allow-credentials" not in headers and "access-control-max-age" not in headers


@pytest.mark.parametrize(
    ("request_headers", "why"),
    [
        ({"Origin": "https://evil.example.com", "Access-Control-Request-Method": "PUT"}, "origin"),
        ({"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"}, "method"),
        (
            {
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "content-type, authorization",
            },
            "header",
        ),
    ],
)
def test_preflight_not_allowed(
    cluster: RunningCluster, s3: Any, bucket: str, request_headers: dict[str, str], why: str
) -> None:
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES[:1]})
    status, headers, body = options(cluster, f"/{bucket}/k", request_headers)
    assert status == 403, why
    error = ET.fromstring(body)
    assert error.findtext("Code") == "AccessForbidden"
    assert error.findtext("Message", "").startswith("CORSResponse: This CORS request is not allowed.")
    assert error.findtext("Method") == request_headers["Access-Control-Request-Method"]
    assert error.findtext("ResourceType") == "OBJECT"
    assert not any(h.startswith("access-control-") for h in headers)


def test_preflight_without_configuration_or_origin(cluster: RunningCluster, bucket: str) -> None:
    status, _, body = options(
        cluster, f"/{bucket}", {"Origin": "http://a", "Access-Control-Request-Method": "GET"}
    )
    error = ET.fromstring(body)
    assert status == 403 and error.findtext("Code") == "AccessForbidden"
    assert error.findtext("Message") == "CORSResponse: CORS is not enabled for this bucket."
    assert error.findtext("ResourceType") == "BUCKET"
    status, _, body = options(cluster, f"/{bucket}", {"Access-Control-Request-Method": "GET"})
    assert status == 400 and ET.fromstring(body).findtext("Code") == "BadRequest"
    status, _, body = options(
        cluster, f"/{bucket}", {"Origin": "http://a", "Access-Control-Request-Method": "PATCH"}
    )
    assert status == 400 and ET.fromstring(body).findtext("Code") == "BadRequest"
    status, _, body = options(
        cluster, f"/{bucket}-missing/k", {"Origin": "http://a", "Access-Control-Request-Method": "GET"}
    )
    assert status == 404 and ET.fromstring(body).findtext("Code") == "NoSuchBucket"


def test_cors_headers_on_actual_requests(s3: Any, with_origin: Any, bucket: str) -> None:
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    put = with_origin.put_object(Bucket=bucket, Key="k", Body=b"hello")["ResponseMetadata"]["HTTPHeaders"]
    assert put["access-control-allow-origin"] == "https://app.example.com"
    assert put["access-control-allow-methods"] == "PUT, POST"
    assert put["access-control-expose-headers"] == "ETag, x-amz-request-id"
    assert put["access-control-max-age"] == "3000"
    assert put["access-control-allow-credentials"] == "true"
    assert put["vary"] == VARY
    assert "access-control-allow-headers" not in put
    got = with_origin.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"hello"
    headers = got["ResponseMetadata"]["HTTPHeaders"]
    assert (
        headers["access-control-allow-origin"] == "*"
        and headers["access-control-allow-methods"] == "GET, HEAD"
    )
    assert "access-control-allow-credentials" not in headers
    # errors carry them too: a browser can read the NoSuchKey
    with pytest.raises(ClientError) as missing:
        with_origin.get_object(Bucket=bucket, Key="absent")
    assert missing.value.response["ResponseMetadata"]["HTTPHeaders"]["access-control-allow-origin"] == "*"
    # an origin no rule allows for the method: only Vary
    with_origin.origin["value"] = "https://evil.example.com"
    headers = with_origin.put_object(Bucket=bucket, Key="k2", Body=b"x")["ResponseMetadata"]["HTTPHeaders"]
    assert headers["vary"] == VARY
    assert not any(h.startswith("access-control-") for h in headers)
    # no Origin, no CORS headers at all
    headers = s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]
    assert "vary" not in headers and not any(h.startswith("access-control-") for h in headers)
    # no configuration, no CORS headers even with Origin
    s3.delete_bucket_cors(Bucket=bucket)
    with_origin.origin["value"] = "https://app.example.com"
    headers = with_origin.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]
    assert "vary" not in headers and not any(h.startswith("access-control-") for h in headers)
