"""`python -m cairn.gc` as a process and `cairn admin gc` against it, with the services it needs
unreachable: status lists every worker, a pass that cannot reach placement (for the lease) is reported as failed
(exit status 1, the error on its row), and a worker name it does not run is refused."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import ServiceProcess, free_port, port_open, wait_for

pytestmark = pytest.mark.slow  # five Python processes


@pytest.fixture
def gc_addr(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    nowhere = f"127.0.0.1:{free_port()}"
    args = ["--port", str(port), "--placement", nowhere, "--metadata", nowhere, "--interval-s", "3600"]
    args += ["--repair-interval-s", "3600"]
    proc = ServiceProcess("cairn.gc", args, tmp_path / "gc.log").start()
    try:
        wait_for(lambda: port_open(port), 30, "the gc service to listen")
        yield f"127.0.0.1:{port}"
    finally:
        proc.stop()


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
