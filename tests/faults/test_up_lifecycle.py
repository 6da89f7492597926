"""Safe startup and shutdown of a real `cairn up` (a small TLS cluster with JSON logs).

In file order, on one cluster:
- `--region` reaches the S3 API and a pinned internal port is used;
- a second `cairn up` on the same directory, or on the same S3 port, is refused at once, with a
  message and status 1, and starts nothing;
- each data node has one name: cluster.json, its directory, its log file, its log lines and
  `cairn admin nodes` agree;
- every line every service logged is a JSON object naming its service and instance, and the
  placement replicas logged their election and the map's epochs;
- the banner's `aws` command (with the CA bundle) and `cairn admin` command work as printed;
- SIGKILL to `cairn up` takes every child down: all pids in cluster.json gone, every port free
  and the data directory unlocked, within a bounded time.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.local_layout import port_free
from tests.support.cluster import RunningCluster, external_cluster, start_cluster
from tests.support.procs import free_port, pid_alive, wait_for

REGION = "eu-west-1"
METADATA_PORT = free_port()
GONE_WITHIN_S = 30.0  # the lifeline's 10 s grace plus the services' own shutdown
RELEASED_WITHIN_S = 5.0  # from the last pid gone to its files closed
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    if external_cluster() is not None:
        pytest.skip("needs a local cairn up cluster")
    extra = ["--data-nodes", "3", "--k", "2", "--m", "1", "--log-format", "json", "--region", REGION]
    extra += ["--metadata-port", str(METADATA_PORT)]
    running = start_cluster(tmp_path_factory.mktemp("cairn-up"), tls=True, extra_args=extra)
    running.region = REGION
    try:
        yield running
    finally:
        running.stop()


def cairn_up(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", "up", *argv], capture_output=True, text=True, timeout=60
    )


def s3_port(cluster: RunningCluster) -> int:
    return int(cluster.endpoint.rsplit(":", 1)[1])


def test_region_and_a_pinned_port_reach_the_services(cluster: RunningCluster) -> None:
    assert cluster.cluster_json()["region"] == REGION
    metadata = cluster.processes("metadata")
    assert [p["id"] for p in metadata] == ["m1", "m2", "m3"]
    assert metadata[0]["addr"] == f"127.0.0.1:{METADATA_PORT}"  # --metadata-port pins m1's
    s3 = cluster.s3_client()
    bucket = f"region-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == REGION


def test_a_second_cairn_up_on_the_same_directory_is_refused(cluster: RunningCluster) -> None:
    assert cluster.data_dir is not None
    before = cluster.cluster_json()
    logs_before = sorted(p.name for p in (cluster.data_dir / "logs").iterdir())
    done = cairn_up("--data-dir", str(cluster.data_dir), "--port", str(free_port()))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"cairn up: data directory {cluster.data_dir} is in use by another cairn up "
        f"(pid {before['supervisor_pid']}); stop it first, or pass another --data-dir\n"
    )
    assert cluster.cluster_json() == before
    assert sorted(p.name for p in (cluster.data_dir / "logs").iterdir()) == logs_before


def test_a_busy_s3_port_is_refused(cluster: RunningCluster, tmp_path: Path) -> None:
    done = cairn_up("--data-dir", str(tmp_path / "other"), "--port", str(s3_port(cluster)))
    assert done.returncode == 1 and done.stdout == ""
    assert f"the S3 port 127.0.0.1:{s3_port(cluster)} is already in use" in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "other").exists()


def admin_json(cluster: RunningCluster, *argv: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "admin", *argv, "--data-dir", str(cluster.data_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_name_per_data_node_everywhere(cluster: RunningCluster) -> None:
    nodes = cluster.processes("datanode")
    names = sorted(p["name"] for p in nodes)
    assert names == ["dn-0001", "dn-0002", "dn-0003"]
    for p in nodes:
        assert p["id"] == p["name"]
        assert Path(p["data_dir"]).name == p["name"] and Path(p["log"]).stem == p["name"]
        assert (Path(p["data_dir"]) / "node_id").read_text().strip() == p["name"]
        assert {line["id"] for line in json_lines(Path(p["log"]))} == {p["name"]}
    listed = admin_json(cluster, "nodes")["nodes"]
    assert sorted(n["id"] for n in listed) == names
    assert all(n["host"] == n["id"] for n in listed)
    assert sorted(admin_json(cluster, "pgs")["per_node"]) == names


def test_every_service_logs_json_lines(cluster: RunningCluster) -> None:
    for p in cluster.cluster_json()["processes"]:
        lines = json_lines(Path(p["log"]))
        assert lines and {line["service"] for line in lines} == {p["role"]}, p["log"]
        if p["role"] in ("placement", "datanode"):
            assert {line["id"] for line in lines} == {p["name"]}
        for line in lines:
            assert set(line) >= {"time", "level", "service", "id", "logger", "message"}
    placement = [line for p in cluster.processes("placement") for line in json_lines(Path(p["log"]))]
    messages = [line["message"] for line in placement if line["level"] == "INFO"]
    assert any(" is leader at term " in m for m in messages)
    assert sum(" follows p" in m for m in messages) >= 2  # the other two replicas found the leader
    assert any(m.startswith("cluster map epoch ") and "created 32 placement groups" in m for m in messages)


def banner(cluster: RunningCluster) -> list[str]:
    assert cluster.data_dir is not None
    lines = (cluster.data_dir / "cairn-up.log").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Cairn is up: "))
    end = next(i for i in range(start, len(lines)) if lines[i] == "Ctrl-C stops the cluster.")
    return lines[start : end + 1]


def test_the_banner_commands_work_as_printed(cluster: RunningCluster) -> None:
    bucket = f"banner-{uuid.uuid4().hex[:12]}"
    cluster.s3_client().create_bucket(Bucket=bucket)
    lines = banner(cluster)
    aws = next(line.strip() for line in lines if line.strip().startswith("AWS_ACCESS_KEY_ID="))
    admin = next(line.strip() for line in lines if " admin cluster status" in line)
    assert f"--ca-bundle {cluster.tls_cert}" in aws and f"--region {REGION}" in aws
    assert cluster.endpoint.startswith("https://")
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    done = subprocess.run(["bash", "-c", aws], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert bucket in done.stdout
    done = subprocess.run(["bash", "-c", admin], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("leader:    p")


def test_sigkill_to_cairn_up_takes_every_child_down(cluster: RunningCluster) -> None:
    assert cluster.proc is not None and cluster.data_dir is not None
    doc = cluster.cluster_json()
    pids = [p["pid"] for p in doc["processes"]]
    ports = [int(p["addr"].rsplit(":", 1)[1]) for p in doc["processes"]]
    assert (
        len(pids) == 11 and all(pids) and all(pid_alive(pid) for pid in pids)
    )  # 3 placement, 3 metadata, 3 data nodes, api, gc
    assert s3_port(cluster) in ports and not any(port_free("127.0.0.1", port) for port in ports)

    os.kill(cluster.proc.pid, signal.SIGKILL)
    cluster.proc.kill9()  # reaps it
    wait_for(
        lambda: not any(pid_alive(pid) for pid in pids),
        GONE_WITHIN_S,
        "every child of the killed cairn up to exit",
        interval=0.2,
    )
    # A killed multi-threaded child is a zombie (not alive for pid_alive) before its last thread
    # has closed its files: its sockets and the inherited lock can outlive its pid for a moment.
    wait_for(
        lambda: all(port_free("127.0.0.1", port) for port in ports),
        RELEASED_WITHIN_S,
        "every port of the killed cluster to be free",
        interval=0.1,
    )
    fd = os.open(doc["lock_file"], os.O_RDWR)
    try:
        wait_for(lambda: _locked(fd), RELEASED_WITHIN_S, "the data directory to be unlocked", interval=0.1)
    finally:
        os.close(fd)


def _locked(fd: int) -> bool:
    """Take the exclusive lock on `fd` if no one holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
