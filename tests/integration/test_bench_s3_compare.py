"""benchmarks/s3_compare.py, run as a user runs it, at tiny sizes against the suite's real cluster.

Every workload runs with small objects and counts (time limits set far above what they need, so
the counts end each phase and nothing here depends on speed): each phase must finish with all its
requests done and none failed, GETs verified by the benchmark itself, and the bucket gone at the
end. The `--peer` path runs with a peer script that hands out the same cluster (a second bucket on
it), so the side-by-side table, the ratios and the peer's start and stop are exercised without
downloading SeaweedFS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.cluster import RunningCluster

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "s3_compare.py"
RUN_TIMEOUT_S = 240  # the whole invocation; each request also has --request-timeout

TINY = """
    --large-size 256KiB --large-count 2 --large-concurrency 1,2
    --small-count 40 --small-concurrency 8
    --mpu-size 6MiB --mpu-part-size 5MiB --mpu-concurrency 2
    --range-size 16KiB --range-count 12 --range-concurrency 4
    --list-keys 60 --list-page-size 25 --list-rounds 2 --list-concurrency 8
    --large-seconds 120 --small-seconds 120 --mpu-seconds 120
    --range-seconds 120 --list-create-seconds 120 --list-seconds 120
    --request-timeout 60
""".split()


def endpoint_args(cluster: RunningCluster) -> list[str]:
    args = ["--endpoint", cluster.endpoint, "--access-key", cluster.access_key]
    args += ["--secret-key", cluster.secret_key, "--region", cluster.region]
    if cluster.data_dir is not None:  # a local cluster: its processes' CPU time is measured too
        args += ["--cluster-json", str(cluster.data_dir / "cluster.json")]
    return args


def run_compare(args: list[str], json_out: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--json-out", str(json_out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    doc: dict[str, Any] = json.loads(json_out.read_text())
    doc["stdout"] = done.stdout
    return doc


def phases(system: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["phase"]: p for p in system["phases"]}


def bucket_names(cluster: RunningCluster) -> set[str]:
    return {b["Name"] for b in cluster.s3_client().list_buckets()["Buckets"]}


def test_every_workload_at_tiny_sizes(cluster: RunningCluster, tmp_path: Path) -> None:
    doc = run_compare([*endpoint_args(cluster), *TINY], tmp_path / "out.json")

    (system,) = doc["systems"]
    got = phases(system)
    large = ["large-put-c1", "large-get-c1", "large-put-c2", "large-get-c2"]
    small = ["small-put", "small-get", "small-delete"]
    assert list(got) == [*large, *small, "multipart", "ranged-get", "list-put", "list"]
    for name, phase in got.items():
        assert phase["errors"] == 0, (name, phase["first_error"])
    for c in (1, 2):
        assert got[f"large-put-c{c}"]["ops"] == 2
        assert got[f"large-get-c{c}"]["ops"] == 2  # each one's MD5 and length checked by the benchmark
        assert got[f"large-get-c{c}"]["bytes"] == 2 * 256 * 1024
    assert [got[p]["ops"] for p in ("small-put", "small-get", "small-delete")] == [40, 40, 40]
    assert got["multipart"]["ops"] == 2 and got["multipart"]["bytes"] == 6 << 20
    assert got["ranged-get"]["ops"] == 12 and got["ranged-get"]["bytes"] == 12 * 16 * 1024
    assert got["list-put"]["ops"] == 60
    assert got["list"]["items"] == 2 * 60  # two full listings, each checked to return all 60 keys

    metrics = got["small-get"]["metrics"]
    assert metrics["ops/s"] > 0 and metrics["p99 ms"] >= metrics["p50 ms"] > 0
    if cluster.data_dir is not None:
        roles = set(got["small-put"]["server_cpu_s_by_role"])
        assert {"api", "datanode", "metadata", "placement"} <= roles
        assert "server CPU ms/op" in metrics
    assert "GET 4 KiB c=8" in doc["stdout"]
    assert system["bucket"] not in bucket_names(cluster)  # every object deleted, then the bucket


def test_side_by_side_with_a_peer(cluster: RunningCluster, tmp_path: Path) -> None:
    peer_dir = tmp_path / "peer"
    pid = cluster.cluster_json()["supervisor_pid"] if cluster.data_dir is not None else os.getpid()
    script = tmp_path / "peer.sh"
    script.write_text(
        '#!/usr/bin/env bash\nset -eu\nmkdir -p "$2"\n'
        'case "$1" in\n'
        f'start) touch "$2/started"; echo "endpoint {cluster.endpoint}";'
        f' echo "access_key {cluster.access_key}"; echo "secret_key {cluster.secret_key}"; echo "pid {pid}" ;;\n'
        'stop) touch "$2/stopped" ;;\n'
        "esac\n"
    )
    args = [*endpoint_args(cluster), *TINY, "--workloads", "small,list", "--name", "first"]
    args += ["--peer", "seaweedfs", "--peer-script", str(script), "--peer-dir", str(peer_dir)]
    doc = run_compare(args, tmp_path / "out.json")

    assert (peer_dir / "started").exists() and (peer_dir / "stopped").exists()
    first, peer = doc["systems"]
    assert (first["name"], peer["name"]) == ("first", "seaweedfs")
    assert first["bucket"] != peer["bucket"]
    for system in (first, peer):
        got = phases(system)
        assert list(got) == ["small-put", "small-get", "small-delete", "list-put", "list"]
        assert all(p["errors"] == 0 for p in got.values()), system
        assert got["small-get"]["ops"] == 40 and got["list"]["items"] == 2 * 60
        assert system["bucket"] not in bucket_names(cluster)

    rows = {(r["phase"], r["metric"]): r for r in doc["comparison"]}
    row = rows[("small-get", "ops/s")]
    assert row["better"] == "higher" and row["first"] > 0 and row["seaweedfs"] > 0
    assert row["ratio"] == row["first"] / row["seaweedfs"]
    assert rows[("list", "keys/s")]["ratio"] is not None
    assert rows[("small-get", "client CPU %")]["better"] is None  # information, no ratio
    assert "first/seaweedfs" in doc["stdout"]
