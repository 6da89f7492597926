"""Browser form uploads on a real cluster: boto3's generate_presigned_post (SigV4 and V2) round
trip through urllib3's multipart encoder, a file of several stripes, and a policy refusal."""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any

import urllib3

from tests.support.cluster import RunningCluster


def post_form(cluster: RunningCluster, url: str, fields: dict[str, str], data: bytes) -> Any:
    http = urllib3.PoolManager(ca_certs=cluster.tls_cert) if cluster.tls_cert else urllib3.PoolManager()
    return http.request(
        "POST", url, fields={**fields, "file": ("photo.jpg", data, "image/jpeg")}, retries=False, timeout=60
    )


def test_a_presigned_post_round_trip(cluster: RunningCluster, s3: Any) -> None:
    bucket = f"e2e-form-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    data = os.urandom(3 * 1024 * 1024 + 17)
    presigned = s3.generate_presigned_post(
        bucket,
        "photos/${filename}",
        Fields={"Content-Type": "image/jpeg", "success_action_status": "201"},
        Conditions=[
            {"Content-Type": "image/jpeg"},
            {"success_action_status": "201"},
            ["content-length-range", 1, 8 * 1024 * 1024],
        ],
        ExpiresIn=300,
    )
    reply = post_form(cluster, presigned["url"], presigned["fields"], data)
    assert reply.status == 201, reply.data
    assert reply.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert b"<Key>photos/photo.jpg</Key>" in reply.data
    got = s3.get_object(Bucket=bucket, Key="photos/photo.jpg")
    assert (got["Body"].read() == data, got["ContentType"]) == (True, "image/jpeg")

    v2 = cluster.s3_client(signature_version="s3").generate_presigned_post(bucket, "v2.bin")
    assert post_form(cluster, v2["url"], v2["fields"], b"v2").status == 204
    assert s3.get_object(Bucket=bucket, Key="v2.bin")["Body"].read() == b"v2"

    small = s3.generate_presigned_post(bucket, "small", Conditions=[["content-length-range", 0, 10]])
    refused = post_form(cluster, small["url"], small["fields"], b"x" * 11)
    assert refused.status == 400 and b"<Code>EntityTooLarge</Code>" in refused.data
    assert s3.list_objects_v2(Bucket=bucket, Prefix="small")["KeyCount"] == 0
