"""Inline small objects on a real cluster: a body up to the API's inline threshold is kept in the
replicated version row (no shard on any data node, no write intent, nothing for GC), a larger one
is erasure coded. The threshold is the API's (ApiConfig.inline_max_bytes; the suite can be run
with CAIRN_API_INLINE_MAX_BYTES=0, which `cairn up` passes on to its API processes)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from typing import Any

import pytest

from cairn.api_service.config import ApiConfig
from cairn.metadata.client import MetadataClient
from cairn.metadata.models import ObjectVersion
from tests.support.cluster import RunningCluster

THRESHOLD = int(os.environ.get("CAIRN_API_INLINE_MAX_BYTES", ApiConfig().inline_max_bytes))


def _version(cluster: RunningCluster, bucket: str, key: str) -> ObjectVersion:
    cluster.act_as("api")

    async def read() -> ObjectVersion:
        async with MetadataClient(",".join(p["addr"] for p in cluster.processes("metadata"))) as client:
            return await client.get_object(bucket, key)

    return asyncio.run(read())


def test_small_bodies_are_inline_and_larger_ones_erasure_coded(cluster: RunningCluster, s3: Any) -> None:
    if cluster.data_dir is None:
        pytest.skip("reads the version through the metadata service: needs the local cluster's certificates")
    bucket = f"e2e-inline-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    small, large = os.urandom(4096), os.urandom(max(THRESHOLD, 4096) + 1)
    for key, body in (("small", small), ("large", large)):
        put = s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    ranged = s3.get_object(Bucket=bucket, Key="small", Range="bytes=1000-1999")["Body"].read()
    assert ranged == small[1000:2000]
    (blob,) = _version(cluster, bucket, "small").blobs
    assert blob.is_inline == (THRESHOLD >= len(small))
    assert (blob.inline == small) if blob.is_inline else (len(blob.blob_id) == 16 and blob.data_shards > 0)
    (blob,) = _version(cluster, bucket, "large").blobs
    assert not blob.is_inline and blob.data_shards > 0
