"""`python -m cairn.gc` as a process and `cairn admin gc` against it, with the services it needs
unreachable: status lists every worker, a pass that cannot reach placement (for the lease) is reported as failed
(exit status 1, the error on its row), and a worker name it does not run is refused."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import ServiceProcess, free_port, port_open, wait_for

pytestmark = pytest.mark.slow  # five Python processes


OPS_PORT: dict[str, int] = {}


@pytest.fixture
def gc_addr(tmp_path: Path) -> Iterator[str]:
    port, ops = free_port(), free_port()
    OPS_PORT["port"] = ops
    nowhere = f"127.0.0.1:{free_port()}"
    args = ["--port", str(port), "--placement", nowhere, "--metadata", nowhere, "--interval-s", "3600"]
    args += ["--repair-interval-s", "3600", "--ops-port", str(ops)]
    proc = ServiceProcess("cairn.gc", args, tmp_path / "gc.log").start()
    try:
        wait_for(lambda: port_open(port) and port_open(ops), 30, "the gc service to listen")
        yield f"127.0.0.1:{port}"
    finally:
        proc.stop()


def get(path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{OPS_PORT['port']}{path}", timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def admin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", "admin", "gc", *args], capture_output=True, text=True, timeout=120
    )


def test_status_and_run_once_from_the_cli(gc_addr: str) -> None:
    status = admin("status", "--gc", gc_addr)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].split()[:3] == ["WORKER", "STATE", "TIMER"]
    assert [line.split()[0] for line in lines[1:]] == [
        "lifecycle",
        "uploads",
        "reclaim",
        "orphans",
        "compaction",
        "repair",
    ]
    assert all("every 3600s" in line and " never " in line for line in lines[1:])

    ran = admin("run", "--once", "--worker", "reclaim", "--gc", gc_addr)
    assert ran.returncode == 1  # the pass failed: the lease cannot be taken, placement is unreachable
    (row,) = ran.stdout.splitlines()[1:]
    assert row.split()[0] == "reclaim" and "PlacementUnavailable" in row

    refused = admin("run", "--once", "--worker", "nope", "--gc", gc_addr)
    assert refused.returncode == 1 and "no such worker: nope" in refused.stderr

    unreachable = admin("status", "--gc", f"127.0.0.1:{free_port()}", "--timeout", "2")
    assert unreachable.returncode == 3 and "background service unreachable" in unreachable.stderr


def test_metrics_and_health_on_the_ops_port(gc_addr: str) -> None:
    assert get("/cairn/health/live")[0] == 200
    status, body = get("/cairn/health/ready")
    assert status == 503 and "PlacementUnavailable" in body  # it cannot take the lease: not ready
    assert admin("run", "--once", "--worker", "orphans", "--gc", gc_addr).returncode == 1
    status, text = get("/metrics")
    assert status == 200
    assert 'cairn_gc_passes_total{worker="orphans"} 1.0' in text
    assert 'cairn_gc_pass_failures_total{worker="orphans"} 1.0' in text
    assert 'cairn_gc_passes_total{worker="reclaim"} 0.0' in text
    assert 'cairn_gc_last_pass_timestamp_seconds{worker="orphans"}' in text
    assert "cairn_gc_lease_held 0.0" in text and "cairn_gc_bytes_reclaimed_total 0.0" in text
