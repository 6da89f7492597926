"""Kill -9 the metadata leader of a real `cairn up` cluster under concurrent PUT/DELETE load (boto3).

A surviving replica leads within 10 s; afterwards every acknowledged PUT is a version of its key
(none twice), every key whose last operation was acknowledged reads back as that operation left
it, and listings agree. Requests whose outcome is unknown (failed or timed out) are allowed
either way, nothing else is.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from cairn.metadata.client import MetadataClient, MetadataUnavailable
from tests.support.cluster import RunningCluster, external_cluster, start_cluster

THREADS = 6
KEYS_PER_THREAD = 4


def leader_of(cluster: RunningCluster, exclude: int | None = None) -> dict[str, Any] | None:
    """The metadata process whose replica status says it leads."""

    async def probe(addr: str) -> bool:
        client = MetadataClient(addr, deadline_s=2.0)
        try:
            return (await client.replica_status()).role == "leader"
        except MetadataUnavailable:
            return False
        finally:
            await client.close()

    cluster.act_as("admin")  # ListBuckets over the cluster's mutual TLS
    for proc in cluster.processes("metadata"):
        if proc["pid"] != exclude and asyncio.run(probe(proc["addr"])):
            return proc
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if external_cluster() is not None:
        pytest.skip("needs a local cairn up cluster")
    running = start_cluster(Path(tmp_path_factory.mktemp("cairn-meta-failover")))
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
def test_leader_kill_9_under_put_delete_load_loses_and_duplicates_nothing(cluster: RunningCluster) -> None:
    s3 = cluster.s3_client()
    bucket = f"failover-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    # per key: the operations in order, each ("put", etag) / ("delete", None), acked or unknown
    ops: dict[str, list[tuple[str, str | None, bool]]] = defaultdict(list)
    stop = threading.Event()
    lock = threading.Lock()

    def worker(n: int) -> None:
        client = cluster.s3_client(connect_timeout=5, read_timeout=30)
        i = 0
        while not stop.is_set():
            key = f"w{n}/k{i % KEYS_PER_THREAD}"
            i += 1
            body = f"{key} #{i} {uuid.uuid4()}".encode()
            kind, etag = ("delete", None) if i % 4 == 0 else ("put", hashlib.md5(body).hexdigest())
            try:
                if kind == "delete":
                    client.delete_object(Bucket=bucket, Key=key)
                else:
                    client.put_object(Bucket=bucket, Key=key, Body=body)
                acked = True
            except (ClientError, BotoCoreError):
                acked = False
            with lock:
                ops[key].append((kind, etag, acked))

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(3)
    leader = leader_of(cluster)
    assert leader is not None, "no metadata leader before the kill"
    os.kill(leader["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    new_leader = None
    while new_leader is None and time.monotonic() - killed_at < 10:
        new_leader = leader_of(cluster, exclude=leader["pid"])
    elected_after = time.monotonic() - killed_at
    assert new_leader is not None, "no new metadata leader within 10 s of the kill"
    time.sleep(3)  # load continues on the new leader
    stop.set()
    for t in threads:
        t.join(60)

    acked_puts = sum(1 for history in ops.values() for kind, _, ok in history if ok and kind == "put")
    assert acked_puts > 20, f"too little load went through ({acked_puts} PUTs)"
    versions: dict[str, list[str]] = defaultdict(list)
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            versions[v["Key"]].append(v["ETag"].strip('"'))
    live = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    }
    for key, history in ops.items():
        stored = versions.get(key, [])
        assert len(stored) == len(set(stored)), f"{key}: a PUT stored twice: {stored}"
        for kind, etag, ok in history:
            if ok and kind == "put":
                assert etag in stored, f"{key}: an acknowledged PUT is missing"
        puts = {etag for kind, etag, _ in history if kind == "put"}
        assert set(stored) <= puts, f"{key}: a version nobody wrote"
        last_kind, last_etag, last_ok = history[-1]
        if not last_ok:
            continue  # outcome unknown
        if last_kind == "put":
            head = s3.head_object(Bucket=bucket, Key=key)
            assert head["ETag"].strip('"') == last_etag, f"{key}: read-after-write broke across the failover"
            assert key in live
        else:
            with pytest.raises(ClientError):
                s3.head_object(Bucket=bucket, Key=key)
            assert key not in live
    print(
        f"new metadata leader {new_leader['addr']} after {elected_after:.1f}s; {acked_puts} acknowledged PUTs"
    )


def test_cluster_status_shows_the_metadata_group(cluster: RunningCluster) -> None:
    import json
    import subprocess
    import sys

    assert cluster.data_dir is not None
    argv = [sys.executable, "-m", "cairn", "admin", "cluster", "status", "--data-dir", str(cluster.data_dir)]
    deadline = time.monotonic() + 30  # the replica killed above may still be restarting
    while True:
        done = subprocess.run([*argv, "--json"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        group = json.loads(done.stdout)["metadata"]
        if all(r["reachable"] for r in group["replicas"]) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert all(r["reachable"] for r in group["replicas"]), group
    assert [r["id"] for r in group["replicas"]] == ["m1", "m2", "m3"]
    leader = next(r for r in group["replicas"] if r["role"] == "leader")
    assert group["leader"] == leader["id"] and group["term"] == leader["term"] >= 1
    assert all(r["reachable"] and r["applied_index"] >= 1 and 0 <= r["lag"] < 1000 for r in group["replicas"])
    text = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert f"metadata:  leader {leader['id']} ({leader['addr']}), term {leader['term']}" in text.stdout
