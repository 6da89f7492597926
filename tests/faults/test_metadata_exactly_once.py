"""Exactly-once writes across a leader failure, on three real metadata replica processes.

The first attempt of each request reaches the leader, which commits and applies it; the test
drops the reply (as a network failure would), kills the leader with SIGKILL, and retries the
same request (same request id) through the replica-list client, which finds the new leader.
The retry returns the first result and the state shows a single effect: one delete marker,
one multipart upload, one access key. A retry with a new request id (the control) is applied
again, so the test would see a duplicate if dedup failed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from cairn.metadata import rpc_convert as cv
from cairn.metadata.client import (
    ChecksumType,
    MetadataClient,
    MetadataUnavailable,
    ObjectAttrs,
    VersioningState,
)
from cairn.proto import metadata_pb2 as pb
from tests.support.procs import ServiceProcess, free_port, wait_for

IDS = ["m1", "m2", "m3"]


async def _leader(ports: dict[str, int], alive: set[str]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for i in sorted(alive):
            client = MetadataClient(f"127.0.0.1:{ports[i]}", deadline_s=2.0)
            try:
                if (await client.replica_status()).role == "leader":
                    return i
            except MetadataUnavailable:
                pass
            finally:
                await client.close()
        await asyncio.sleep(0.2)
    raise AssertionError("no metadata leader within 30 s")


@pytest.mark.slow
def test_a_retry_after_the_leader_dies_returns_the_first_result(tmp_path: Path) -> None:
    ports = {i: free_port() for i in IDS}
    peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in ports.items())
    addrs = ",".join(f"127.0.0.1:{p}" for p in ports.values())
    procs: dict[str, ServiceProcess] = {}
    for i in IDS:
        args = ["--id", i, "--peers", peers, "--data-dir", str(tmp_path / i), "--shards", "4"]
        procs[i] = ServiceProcess("cairn.metadata", args, tmp_path / f"{i}.log").start()
    for i in IDS:
        wait_for(lambda i=i: "metadata listening" in procs[i].log_tail(), 60, f"replica {i} to start")

    async def run() -> None:
        client = MetadataClient(addrs, deadline_s=30.0)
        try:
            await client.create_bucket("bkt", "owner")
            await client.set_bucket_versioning("bkt", VersioningState.ENABLED)
            await client.create_user("alice")
            leader = await _leader(ports, set(IDS))
            direct = MetadataClient(f"127.0.0.1:{ports[leader]}", deadline_s=10.0)
            delete = pb.DeleteObjectRequest(bucket="bkt", key="k", request_id="delete-1")
            upload = pb.CreateMultipartUploadRequest(
                bucket="bkt",
                key="mp",
                attrs=cv.attrs_to_pb(ObjectAttrs()),
                checksum_type=ChecksumType.COMPOSITE.value,
                request_id="upload-1",
            )
            key = pb.CreateAccessKeyRequest(user_name="alice", request_id="key-1")
            try:  # first attempts: committed and applied by the leader; their replies are dropped
                first_delete = await direct._stub.DeleteObject(delete, timeout=10.0)
                first_upload = await direct._stub.CreateMultipartUpload(upload, timeout=10.0)
                first_key = await direct._stub.CreateAccessKey(key, timeout=10.0)
            finally:
                await direct.close()
            procs[leader].kill9()
            # The retries: the same requests, through the replica-list client to the new leader.
            assert await client._stub.DeleteObject(delete, timeout=30.0) == first_delete
            assert await client._stub.CreateMultipartUpload(upload, timeout=30.0) == first_upload
            assert await client._stub.CreateAccessKey(key, timeout=30.0) == first_key
            assert await _leader(ports, set(IDS) - {leader}) != leader

            versions = (await client.list_object_versions("bkt")).versions
            assert [(v.key, v.is_delete_marker) for v in versions] == [("k", True)]
            uploads = (await client.list_multipart_uploads("bkt")).uploads
            assert [u.upload_id for u in uploads] == [first_upload.result.upload_id]
            keys = await client.list_access_keys("alice")
            assert [k.access_key_id for k in keys] == [first_key.result.access_key_id]

            # Control: the same operation under a new request id is a new request.
            await client._stub.DeleteObject(pb.DeleteObjectRequest(bucket="bkt", key="k"), timeout=30.0)
            assert len((await client.list_object_versions("bkt")).versions) == 2
        finally:
            await client.close()

    try:
        asyncio.run(run())
    finally:
        for proc in procs.values():
            proc.stop()
