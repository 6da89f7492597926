"""Growing a real `cairn up` cluster from 12 to 17 data nodes, then draining one, seen through boto3
and `cairn admin`: the map moves slots to the new nodes but keeps their old holders listed, so
every object written before the growth reads back byte-identical (without the layout history a PG
with more than m moved slots could not be read); new objects go to the new targets; a drained
node keeps serving its data and cannot be removed while it holds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import RunningCluster, external_cluster, start_cluster

MiB = 1024 * 1024

pytestmark = pytest.mark.slow


def admin(data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", "admin", *argv, "--data-dir", str(data_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def admin_json(data_dir: Path, *argv: str) -> Any:
    ran = admin(data_dir, *argv)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def read_all(s3: Any, bucket: str, objects: dict[str, bytes]) -> None:
    for key, body in objects.items():
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert len(got) == len(body) and hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), key


@pytest.fixture(scope="module")
def grown(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningCluster, Path, str, dict[str, bytes]]]:
    if external_cluster() is not None:
        pytest.skip("growth needs a local cairn up cluster")
    data_dir = tmp_path_factory.mktemp("cairn-growth")
    first = start_cluster(data_dir)
    bucket = f"grow-{uuid.uuid4().hex[:12]}"
    objects = {f"obj-{i:02d}": os.urandom(100_000 + i * 7919) for i in range(48)}
    objects["stripes"] = os.urandom(3 * MiB + 17)
    try:
        s3 = first.s3_client(read_timeout=60)
        s3.create_bucket(Bucket=bucket)
        for key, body in objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
    finally:
        first.stop()
    second = start_cluster(data_dir, extra_args=["--data-nodes", "17"])
    try:
        yield second, data_dir, bucket, objects
    finally:
        second.stop()


def test_objects_written_before_the_growth_read_back_identical(
    grown: tuple[RunningCluster, Path, str, dict[str, bytes]],
) -> None:
    cluster, data_dir, bucket, objects = grown
    pgs = admin_json(data_dir, "pgs")
    moved = [d for d in pgs["degraded"] if d["migrating_slots"]]
    cmap_status = admin_json(data_dir, "cluster", "status")["pgs"]
    assert cmap_status["slots_migrating"] > 0 and cmap_status["migrating"] > 0
    # every old holder serves, every new target serves: nothing is lost, nothing is degraded
    assert moved == [] and cmap_status["min_failures_tolerated"] == 4 and cmap_status["degraded"] == 0
    assert sum(pgs["per_node"].values()) == 32 * 12 and len(pgs["per_node"]) == 17
    # PGs with more moved slots than m = 4: read from their targets alone they would fail (about
    # a fifth of the 32 PGs; with 49 objects, one of them is almost surely in such a PG)
    assert any(len(slots) > 4 for slots in pgs["migrating"].values())
    s3 = cluster.s3_client(read_timeout=60)
    read_all(s3, bucket, objects)


def test_new_objects_go_to_the_targets_and_read_back(
    grown: tuple[RunningCluster, Path, str, dict[str, bytes]],
) -> None:
    cluster, _, bucket, _ = grown
    s3 = cluster.s3_client(read_timeout=60)
    fresh = {f"new-{i}": os.urandom(150_000 + i) for i in range(8)}
    for key, body in fresh.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    read_all(s3, bucket, fresh)


def test_a_drained_node_keeps_serving_and_cannot_be_removed_while_it_holds_data(
    grown: tuple[RunningCluster, Path, str, dict[str, bytes]],
) -> None:
    cluster, data_dir, bucket, objects = grown
    drained = admin_json(data_dir, "node", "drain", "dn-0001")
    assert drained["state"] == "draining" and drained["slots_held"] > 0
    pgs = admin_json(data_dir, "pgs")
    assert "dn-0001" not in {n for d in pgs["degraded"] for n in d["nodes"]}  # no longer a target
    assert pgs["per_node"]["dn-0001"] == 0
    read_all(cluster.s3_client(read_timeout=60), bucket, objects)
    refused = admin(data_dir, "node", "remove", "dn-0001")
    assert refused.returncode == 1 and "NodeHoldsData" in refused.stderr
