"""Shared state of the metadata service: the store, the clock, the id issuer, the bucket cache.

The service is the only writer of its store, so it keeps every bucket in memory (loaded at
open, updated after each catalog command commits) and object operations resolve a bucket
name without touching the catalog. `BucketGate` orders object mutations against
DeleteBucket: mutations of a bucket hold it shared, DeleteBucket holds it exclusively while
it checks every shard for remaining versions and uploads, so no write can slip into a bucket
between "it is empty" and "it is gone".
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from cairn.metadata import catalog
from cairn.metadata.errors import InvalidArgument, KeyTooLongError, NoSuchBucket
from cairn.metadata.models import Bucket
from cairn.metadata.store import Store
from cairn.metadata.versionids import IdIssuer, wall_clock_ms

MAX_KEY_BYTES = 1024


class BucketGate:
    """A per-bucket readers/writer lock; a waiting writer blocks new readers.

    A writer that is cancelled (or fails) while waiting for readers to drain removes its
    claim before re-raising, so an abandoned DeleteBucket never blocks the bucket.
    """

    def __init__(self) -> None:
        self._readers: defaultdict[str, int] = defaultdict(int)
        self._writers: set[str] = set()
        self._cond = asyncio.Condition()

    @asynccontextmanager
    async def shared(self, name: str) -> AsyncIterator[None]:
        async with self._cond:
            await self._cond.wait_for(lambda: name not in self._writers)
            self._readers[name] += 1
        try:
            yield
        finally:
            async with self._cond:
                self._readers[name] -= 1
                if not self._readers[name]:
                    del self._readers[name]
                self._cond.notify_all()

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        async with self._cond:
            await self._cond.wait_for(lambda: name not in self._writers)
            self._writers.add(name)
            try:
                await self._cond.wait_for(lambda: not self._readers.get(name))
            except BaseException:  # cancelled while readers drain: give the name back
                self._writers.discard(name)
                self._cond.notify_all()
                raise
        try:
            yield
        finally:
            async with self._cond:
                self._writers.discard(name)
                self._cond.notify_all()


class ServiceCore:
    def __init__(
        self,
        store: Store,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
        issuer: IdIssuer | None = None,
        intent_ttl_s: float = 3600.0,
        region: str = "us-east-1",
        account_id: str = "000000000000",
    ) -> None:
        self.store = store
        self.clock_ms = clock_ms
        self.issuer = issuer or IdIssuer(clock_ms)
        self.intent_ttl_s = intent_ttl_s
        self.region = region
        self.account_id = account_id
        self.gate = BucketGate()
        self._buckets: dict[str, Bucket] = {}

    async def load(self) -> None:
        """Fill the bucket cache from the catalog (call once after construction)."""
        self._buckets = {b.name: b for b in await self.store.catalog.read(catalog.read_buckets)}

    async def close(self) -> None:
        await self.store.close()

    def now_ms(self) -> int:
        return self.clock_ms()

    def bucket(self, name: str) -> Bucket:
        found = self._buckets.get(name)
        if found is None:
            raise NoSuchBucket(f"bucket {name!r} does not exist")
        return found

    def cache_bucket(self, bucket: Bucket) -> None:
        self._buckets[bucket.name] = bucket

    def forget_bucket(self, name: str) -> None:
        self._buckets.pop(name, None)

    def all_buckets(self) -> list[Bucket]:
        return sorted(self._buckets.values(), key=lambda b: b.name)


def check_key(key: str) -> None:
    """S3 object keys are 1..1024 bytes of UTF-8."""
    try:
        size = len(key.encode())
    except UnicodeEncodeError as exc:
        raise InvalidArgument("object keys must be valid UTF-8") from exc
    if size == 0:
        raise InvalidArgument("object keys must not be empty")
    if size > MAX_KEY_BYTES:
        raise KeyTooLongError("Your key is too long")
