"""BucketContextCache: one read for concurrent requests, reuse within the TTL, invalidation wins
over a read in flight, a missing bucket is never cached."""

from __future__ import annotations

import asyncio

import pytest

from cairn.api_service.bucket_context import BucketContextCache
from cairn.metadata import errors as md
from cairn.metadata.models import Bucket, BucketContext, VersioningState


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Catalog:
    """The metadata service's answer, changed by the test; counts reads and can hold them."""

    def __init__(self) -> None:
        self.policy: str | None = None
        self.exists = True
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()  # set when a read has taken its answer

    async def fetch(self, name: str) -> BucketContext:
        self.reads += 1
        policy = self.policy  # the answer as of the read's start
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if not self.exists:
            raise md.NoSuchBucket(name)
        return BucketContext(Bucket(name, "id", "owner", VersioningState.UNVERSIONED, 0, "r"), policy)


async def test_reuses_within_ttl_and_reads_again_after() -> None:
    catalog, clock = Catalog(), FakeClock()
    cache = BucketContextCache(catalog.fetch, ttl_s=1.0, clock=clock)
    assert (await cache.get("b")).policy is None
    catalog.policy = "p1"
    clock.now += 0.5
    assert (await cache.get("b")).policy is None  # within the TTL: the cached answer
    assert catalog.reads == 1
    clock.now += 0.6
    assert (await cache.get("b")).policy == "p1"
    assert catalog.reads == 2


async def test_concurrent_requests_share_one_read() -> None:
    catalog = Catalog()
    catalog.gate = asyncio.Event()
    cache = BucketContextCache(catalog.fetch, ttl_s=1.0)
    waiting = [asyncio.ensure_future(cache.get("b")) for _ in range(10)]
    await catalog.started.wait()
    catalog.gate.set()
    await asyncio.gather(*waiting)
    assert catalog.reads == 1


async def test_invalidate_drops_entry_and_read_in_flight() -> None:
    catalog = Catalog()
    cache = BucketContextCache(catalog.fetch, ttl_s=60.0)
    await cache.get("b")
    catalog.policy = "p1"
    cache.invalidate("b")  # this process's own write: seen by the next request
    assert (await cache.get("b")).policy == "p1"

    catalog.gate = asyncio.Event()
    old = asyncio.ensure_future(cache.get("b2"))  # a read that started before the write
    catalog.started.clear()
    await catalog.started.wait()
    catalog.policy = "p2"
    cache.invalidate("b2")
    catalog.gate.set()
    assert (await old).policy == "p1"  # its caller raced the write
    assert (await cache.get("b2")).policy == "p2"  # but its answer was not stored


async def test_missing_bucket_is_not_cached() -> None:
    catalog = Catalog()
    catalog.exists = False
    cache = BucketContextCache(catalog.fetch, ttl_s=60.0)
    with pytest.raises(md.NoSuchBucket):
        await cache.get("b")
    catalog.exists = True
    assert (await cache.get("b")).bucket.name == "b"


async def test_ttl_zero_reads_every_time() -> None:
    catalog = Catalog()
    cache = BucketContextCache(catalog.fetch, ttl_s=0)
    for _ in range(3):
        await cache.get("b")
    assert catalog.reads == 3
