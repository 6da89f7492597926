"""Bucket policies on a real cluster: anonymous reads under a public policy, SecureTransport and
SourceIp as the API process sees them, and a policy change taking effect on the next request."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.support.cluster import RunningCluster


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"e2e-pol-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def code(call: Any) -> str:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "OK"


def test_public_read_policy_serves_anonymous_readers(cluster: RunningCluster, s3: Any, bucket: str) -> None:
    anon = cluster.s3_client(signature_version=UNSIGNED)
    s3.put_object(Bucket=bucket, Key="site/index.html", Body=b"<h1>hi</h1>", ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"no")
    assert code(lambda: anon.get_object(Bucket=bucket, Key="site/index.html")) == "AccessDenied"

    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/site/*",
        "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    got = anon.get_object(Bucket=bucket, Key="site/index.html")
    assert (got["Body"].read(), got["ContentType"]) == (b"<h1>hi</h1>", "text/html")
    assert code(lambda: anon.get_object(Bucket=bucket, Key="secret.txt")) == "AccessDenied"
    assert code(lambda: anon.put_object(Bucket=bucket, Key="site/x", Body=b"x")) == "AccessDenied"
    assert code(lambda: anon.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False  # IP-bound

    secure = "true" if cluster.endpoint.startswith("https") else "false"
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"Bool": {"aws:SecureTransport": secure}},
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement, deny]})
    )
    assert code(lambda: anon.get_object(Bucket=bucket, Key="site/index.html")) == "AccessDenied"
    assert code(lambda: s3.get_object(Bucket=bucket, Key="secret.txt")) == "AccessDenied"  # root too

    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"no"
    assert code(lambda: anon.get_object(Bucket=bucket, Key="site/index.html")) == "AccessDenied"
