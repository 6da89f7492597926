"""Edge cases of issue 12 where Cairn's answer differed from S3's: ListBuckets pagination, an empty
ListObjectsV2 continuation-token, the stored Content-Encoding of an aws-chunked upload, SigV2
header authentication."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.support import raw_http

from .harness import ROOT_KEY, ROOT_SECRET, Endpoint, code_of


def test_list_buckets_pages_with_max_buckets_and_a_continuation_token(s3e: Endpoint) -> None:
    s3 = s3e.client(*s3e.new_user("pager"))
    names = [f"page-{i:02d}" for i in range(5)]
    for name in reversed(names):
        s3.create_bucket(Bucket=name)
    s3.create_bucket(Bucket="other-bucket")
    first = s3.list_buckets(MaxBuckets=2, Prefix="page-")
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    assert first["Prefix"] == "page-"
    second = s3.list_buckets(MaxBuckets=2, Prefix="page-", ContinuationToken=first["ContinuationToken"])
    third = s3.list_buckets(MaxBuckets=2, Prefix="page-", ContinuationToken=second["ContinuationToken"])
    assert [b["Name"] for b in second["Buckets"] + third["Buckets"]] == names[2:]
    assert "ContinuationToken" not in third
    everything = s3.list_buckets()
    assert [b["Name"] for b in everything["Buckets"]] == ["other-bucket", *names]
    assert "ContinuationToken" not in everything
    assert [b["Name"] for b in s3.list_buckets(BucketRegion="us-east-1", Prefix="o")["Buckets"]] == [
        "other-bucket"
    ]
    assert s3.list_buckets(BucketRegion="eu-west-1")["Buckets"] == []
    for bad in ({"MaxBuckets": 10001}, {"ContinuationToken": "%%%"}):  # boto3 itself refuses 0
        with pytest.raises(ClientError) as exc:
            s3.list_buckets(**bad)
        assert code_of(exc) == ("InvalidArgument", 400)


def test_an_empty_continuation_token_is_no_token(s3: Any) -> None:
    s3.create_bucket(Bucket="empty-token")
    s3.put_object(Bucket="empty-token", Key="a", Body=b"")
    listing = s3.list_objects_v2(Bucket="empty-token", ContinuationToken="")
    assert [o["Key"] for o in listing["Contents"]] == ["a"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("aws-chunked, gzip", "gzip"),
        ("aws-chunked,gzip", "gzip"),
        ("gzip, aws-chunked, br", "gzip, br"),
        ("gzip,  br", "gzip,  br"),
        ("aws-chunked", None),
    ],
)
def test_the_aws_chunked_coding_is_dropped_and_the_rest_kept_verbatim(
    s3: Any, sent: str, stored: str | None
) -> None:
    s3.create_bucket(Bucket="encodings")
    s3.put_object(Bucket="encodings", Key="k", Body=b"x", ContentEncoding=sent)
    assert s3.head_object(Bucket="encodings", Key="k").get("ContentEncoding") == stored


def v2_head(endpoint: Endpoint, method: str, path: str, date: str, secret: str = ROOT_SECRET) -> bytes:
    """A request head signed with the V2 Authorization header (Date signed, no x-amz-date)."""
    sts = f"{method}\n\n\n{date}\n{path}"
    signature = base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    host = urlsplit(endpoint.url).netloc
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nDate: {date}\r\n"
        f"Authorization: AWS {ROOT_KEY}:{signature}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_sigv2_header_authentication(s3e: Endpoint, s3: Any) -> None:
    """botocore's HmacV1 signer (signature_version="s3") for every call of an ordinary session."""
    v2 = s3e.client(signature_version="s3")
    v2.create_bucket(Bucket="sigv2")
    v2.put_object(Bucket="sigv2", Key="dir/a b+c", Body=b"v2 body", Metadata={"m": "1"}, ContentType="text/x")
    got = v2.get_object(Bucket="sigv2", Key="dir/a b+c")
    assert (got["Body"].read(), got["Metadata"], got["ContentType"]) == (b"v2 body", {"m": "1"}, "text/x")
    assert [o["Key"] for o in v2.list_objects(Bucket="sigv2", Prefix="dir/")["Contents"]] == ["dir/a b+c"]
    v2.put_object_tagging(Bucket="sigv2", Key="dir/a b+c", Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    assert s3.get_object_tagging(Bucket="sigv2", Key="dir/a b+c")["TagSet"] == [{"Key": "t", "Value": "1"}]

    wrong = s3e.client(secret="not-the-secret", signature_version="s3")
    with pytest.raises(ClientError) as exc:
        wrong.get_object(Bucket="sigv2", Key="dir/a b+c")
    assert code_of(exc) == ("SignatureDoesNotMatch", 403)
    unknown = s3e.client(key="NOSUCHKEY", signature_version="s3")
    with pytest.raises(ClientError) as exc:
        unknown.list_objects(Bucket="sigv2")
    assert code_of(exc) == ("InvalidAccessKeyId", 403)


@pytest.mark.parametrize(
    ("offset", "status", "code"),
    [(timedelta(0), 200, None), (timedelta(minutes=20), 403, "RequestTimeTooSkewed")],
)
def test_sigv2_header_dates_are_held_to_15_minutes(
    s3e: Endpoint, s3: Any, offset: timedelta, status: int, code: str | None
) -> None:
    s3.create_bucket(Bucket="sigv2-dates")
    date = formatdate((datetime.now(UTC) - offset).timestamp(), usegmt=True)
    with raw_http.connect(s3e.url) as sock:
        sock.sendall(v2_head(s3e, "GET", "/sigv2-dates", date))
        reply = raw_http.read_reply(sock)
    assert reply.status == status
    if code:
        assert f"<Code>{code}</Code>".encode() in reply.body


def test_a_malformed_v2_header_is_invalid(s3e: Endpoint) -> None:
    with raw_http.connect(s3e.url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS nocolon\r\nContent-Length: 0\r\n\r\n")
        reply = raw_http.read_reply(sock)
    assert reply.status == 400 and b"<Code>InvalidArgument</Code>" in reply.body
