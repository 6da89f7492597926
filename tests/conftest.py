"""Fixtures shared by every suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.procs import ServiceProcess


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    """A list a test appends started processes to; all are stopped when the test ends."""
    started: list[ServiceProcess] = []
    yield started
    for proc in reversed(started):
        proc.stop()
