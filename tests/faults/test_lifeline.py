"""Children die with their supervisor: cairn.lifeline as real processes.

A stand-in supervisor (tests.support.lifeline_parent) starts a service through the lifeline and
is SIGKILLed; the service must be gone, and its port free, within a bounded time, whether the
parent-death signal, the pipe watchdog or both tell it, and even when it ignores SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.local_layout import port_free
from tests.support.procs import free_port, pid_alive, port_open, wait_for

ROOT = Path(__file__).resolve().parents[2]
GONE_WITHIN_S = 20.0


class Started:
    """Processes a test started; the fixture kills whatever is left, by pid."""

    def __init__(self) -> None:
        self.parents: list[subprocess.Popen[str]] = []
        self.children: list[int] = []


@pytest.fixture
def parents() -> Iterator[Started]:
    started = Started()
    yield started
    for proc in started.parents:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    for pid in started.children:  # only if the lifeline failed: never a reused pid of another program
        cmdline = Path(f"/proc/{pid}/cmdline")
        if pid_alive(pid) and (not cmdline.exists() or b"cairn.lifeline" in cmdline.read_bytes()):
            os.killpg(pid, signal.SIGKILL)


def start(started: Started, mode: str, grace_s: float, *service: str) -> tuple[int, int]:
    """(parent pid, child pid) of a stand-in supervisor running `service` through the lifeline."""
    parent = subprocess.Popen(
        [sys.executable, "-m", "tests.support.lifeline_parent", mode, str(grace_s), *service],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    started.parents.append(parent)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    started.children.append(child)
    return parent.pid, child


def kill_parent(started: Started, pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    next(p for p in started.parents if p.pid == pid).wait(timeout=10)


@pytest.mark.parametrize(
    "mode",
    [
        "both",
        "pipe",
        pytest.param(
            "pdeathsig",
            marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only"),
        ),
    ],
)
def test_a_service_dies_with_its_killed_supervisor(parents: Started, mode: str) -> None:
    port = free_port()
    parent, child = start(parents, mode, 30.0, "http.server", "--bind", "127.0.0.1", str(port))
    wait_for(lambda: port_open(port), 20, f"the child's port {port}")
    assert pid_alive(child)
    kill_parent(parents, parent)
    wait_for(lambda: not pid_alive(child), GONE_WITHIN_S, f"child {child} to exit after its parent died")
    # A multi-threaded child is a zombie (not alive) once its main thread exits; its sockets close when
    # its last thread does, a moment later.
    wait_for(lambda: port_free("127.0.0.1", port), GONE_WITHIN_S, f"the child's port {port} to be free")


def test_a_service_ignoring_sigterm_is_killed_with_its_workers_after_the_grace(
    parents: Started, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    parent, child = start(parents, "pipe", 1.0, "tests.support.stubborn", str(pid_file))
    wait_for(pid_file.exists, 20, "the stubborn service's pid file")
    service, worker = map(int, pid_file.read_text().split())
    assert service == child and pid_alive(worker)
    kill_parent(parents, parent)
    wait_for(
        lambda: not pid_alive(service) and not pid_alive(worker),
        GONE_WITHIN_S,
        "the service and its worker to be killed once the grace period ran out",
    )


def test_a_child_whose_supervisor_is_already_gone_does_not_start(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cairn.lifeline",
                "--parent-pid",
                "1",
                "--fd",
                str(read_fd),
                "http.server",
            ],
            pass_fds=(read_fd,),
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert done.returncode == 1 and "supervisor 1 exited before http.server started" in done.stderr
