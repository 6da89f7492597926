"""Cluster health and metrics on a small real cluster (3 data nodes, 2+1, two S3 API workers):
every scrape sums both workers' counters, and /cairn/health/cluster answers 503 once a killed data
node leaves placement groups below the write quorum, while reads (ready) go on."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cluster import RunningCluster, external_cluster, start_cluster
from tests.support.procs import wait_for


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    if external_cluster() is not None:
        pytest.skip("kills data nodes: needs a local cluster")
    # cairn up's services inherit the environment: nodes heartbeat every 0.5 s, and placement
    # marks one down after 3 s of silence
    timers = {"CAIRN_PLACEMENT_DOWN_AFTER_S": "3", "CAIRN_DATANODE_HEARTBEAT_INTERVAL_S": "0.5"}
    previous = {name: os.environ.get(name) for name in timers}
    os.environ.update(timers)
    try:
        cluster = start_cluster(
            tmp_path_factory.mktemp("health") / "data",
            extra_args=["--data-nodes", "3", "--k", "2", "--m", "1", "--api-workers", "2", "--no-restart"],
        )
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    try:
        yield cluster
    finally:
        cluster.stop()


def get(cluster: RunningCluster, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(cluster.endpoint + path, headers={"Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def head_bucket_count(cluster: RunningCluster) -> float:
    status, body = get(cluster, "/cairn/metrics")
    assert status == 200
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "cairn_s3_requests_total" and sample.labels == {
                "operation": "HeadBucket",
                "status": "200",
            }:
                return sample.value
    return 0.0


def test_every_scrape_sums_all_workers(small: RunningCluster) -> None:
    small.s3_client().create_bucket(Bucket="health")
    before = head_bucket_count(small)
    for _ in range(20):  # a new client, so a new connection, each time: both workers serve some
        small.s3_client().head_bucket(Bucket="health")
    for _ in range(10):  # each scrape is answered by either worker
        assert head_bucket_count(small) == before + 20


def test_cluster_health_fails_when_writes_cannot_reach_the_quorum(small: RunningCluster) -> None:
    status, body = get(small, "/cairn/health/cluster")
    assert status == 200, body
    assert json.loads(body)["write_quorum"] == 3  # k + 1 with 2+1: every node of a PG
    victim = small.processes("datanode")[0]
    os.kill(victim["pid"], signal.SIGKILL)

    def unhealthy() -> bool:
        return get(small, "/cairn/health/cluster")[0] == 503

    started = time.monotonic()
    wait_for(unhealthy, 30, "the cluster health to fail", interval=0.5)
    report = json.loads(get(small, "/cairn/health/cluster")[1])
    assert report["status"] == "unavailable"
    assert report["pgs_below_write_quorum"] == report["pgs"] and report["pgs_below_read_quorum"] == 0
    assert report["nodes_not_serving"] == [victim["name"]]
    assert time.monotonic() - started < 30
    # reads still work: the API stays ready and serves a HEAD
    assert get(small, "/cairn/health/ready")[0] == 200
    assert get(small, "/cairn/health/live")[0] == 200
    small.s3_client().head_bucket(Bucket="health")
    assert Path(victim["log"]).exists()
