"""Process supervision and restarts of a real `cairn up` cluster, seen through boto3 and cluster.json.

- a data node killed with SIGKILL is restarted by `cairn up` (new pid in cluster.json) and reads
  keep returning the right bytes;
- SIGTERM to `cairn up` stops every child it started;
- a second `cairn up` on the same data directory brings back the same buckets, objects, versions
  and IAM users, byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import RunningCluster, external_cluster, start_cluster

MiB = 1024 * 1024


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by cairn up) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def admin_json(data_dir: Path, *argv: str) -> Any:
    ran = subprocess.run(
        [sys.executable, "-m", "cairn", "admin", *argv, "--data-dir", str(data_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if external_cluster() is not None:
        pytest.skip("restart tests need a local cairn up cluster")
    return tmp_path_factory.mktemp("cairn-restart")


@pytest.fixture(scope="module")
def first(data_dir: Path) -> Iterator[RunningCluster]:
    cluster = start_cluster(data_dir)
    try:
        yield cluster
    finally:
        if not cluster.extra.get("stopped"):  # the restart test stops it itself; its pids are stale then
            cluster.stop()


def test_killed_data_node_is_restarted(first: RunningCluster) -> None:
    s3 = first.s3_client(read_timeout=60)
    bucket = f"restart-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(2 * MiB + 1)
    s3.put_object(Bucket=bucket, Key="k", Body=body)

    victim = sorted(first.processes("datanode"), key=lambda p: p["name"])[0]
    os.kill(victim["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    replacement: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        now = {p["name"]: p for p in first.processes("datanode")}[victim["name"]]
        if now["pid"] and now["pid"] != victim["pid"] and alive(now["pid"]):
            replacement = now
            break
        time.sleep(0.2)
    assert replacement is not None, f"{victim['name']} was not restarted within 60 s"
    assert not alive(victim["pid"])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body


def test_restart_on_the_same_data_dir_brings_everything_back(first: RunningCluster, data_dir: Path) -> None:
    s3 = first.s3_client(read_timeout=60)
    bucket = f"restart-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    objects = {"small": os.urandom(1000), "stripes": os.urandom(3 * MiB + 5), "empty": b""}
    for key, body in objects.items():
        s3.put_object(
            Bucket=bucket, Key=key, Body=body, Metadata={"sha": hashlib.sha256(body).hexdigest()[:16]}
        )
    old = s3.put_object(Bucket=bucket, Key="versioned", Body=b"old")["VersionId"]
    new = s3.put_object(Bucket=bucket, Key="versioned", Body=b"new")["VersionId"]
    parts = [os.urandom(5 * MiB), b"tail"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    done = [
        {
            "PartNumber": n,
            "ETag": s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload_id, PartNumber=n, Body=p)[
                "ETag"
            ],
        }
        for n, p in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mpu", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    objects["mpu"] = b"".join(parts)
    pending = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    user = f"restart-user-{uuid.uuid4().hex[:6]}"
    admin_json(data_dir, "user", "create", user)

    children = [p["pid"] for p in first.cluster_json()["processes"] if p.get("pid")]
    first.stop()
    first.extra["stopped"] = True
    assert [pid for pid in children if alive(pid)] == [], "children left running after SIGTERM to cairn up"
    assert first.cluster_json()["ready"] is False

    second = start_cluster(data_dir)
    try:
        s3 = second.s3_client(read_timeout=60)
        assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        for key, body in objects.items():
            got = s3.get_object(Bucket=bucket, Key=key)
            assert got["Body"].read() == body, key
        assert s3.head_object(Bucket=bucket, Key="small")["Metadata"] == {
            "sha": hashlib.sha256(objects["small"]).hexdigest()[:16]
        }
        assert s3.get_object(Bucket=bucket, Key="versioned", VersionId=old)["Body"].read() == b"old"
        assert s3.get_object(Bucket=bucket, Key="versioned")["VersionId"] == new
        uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert [(u["Key"], u["UploadId"]) for u in uploads] == [("pending", pending)]
        assert user in {u["name"] for u in admin_json(data_dir, "user", "list")["users"]}
    finally:
        second.stop()
