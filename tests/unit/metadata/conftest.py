"""Fixtures for metadata unit tests: an in-memory store with an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cairn.metadata.service import MetadataService
from cairn.metadata.store import Store

START_MS = 1_700_000_000_000


class FakeClock:
    def __init__(self, ms: int = START_MS) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int = 1) -> None:
        self.ms += ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def svc(clock: FakeClock) -> AsyncIterator[MetadataService]:
    service = MetadataService(Store.open(None, 4), clock_ms=clock)
    await service.load()
    yield service
    await service.close()


@pytest.fixture
async def bucket(svc: MetadataService) -> str:
    await svc.create_bucket("bucket", "owner-1")
    return "bucket"
