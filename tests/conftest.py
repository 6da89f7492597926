"""Fixtures shared by every suite."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from tests.support.procs import ServiceProcess


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """A SIGTERM (CI's timeout, `kill PID`) ends the run like Ctrl-C does, so fixture finalizers
    still stop every service process a test started (they run in their own sessions and would
    otherwise outlive pytest)."""
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)


@pytest.fixture(autouse=True)
def _plaintext_rpc_by_default() -> Iterator[None]:
    """A test that gives this process an RPC identity (cairn.rpc.set_identity, or the admin CLI
    run in-process on a local cluster) does not leave it to the next test."""
    from cairn import rpc

    yield
    rpc.set_identity(None)


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    """A list a test appends started processes to; all are stopped when the test ends."""
    started: list[ServiceProcess] = []
    yield started
    for proc in reversed(started):
        proc.stop()
