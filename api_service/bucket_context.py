"""The bucket context of S3 requests, read in one metadata call and cached briefly per API process.

Every object request needs its bucket (owner, versioning), the bucket policy and some of its
configuration documents (default encryption, Object Ownership, ACL, lifecycle rules for
`x-amz-expiration`). `GetBucketContext` returns all of them in one linearized read, and
`BucketContextCache` keeps each bucket's answer for `ttl_s` seconds (ApiConfig.bucket_cache_ttl_s;
0 reads it on every request).

Freshness:
- In this API process a change is seen by the next request at once: the app drops a bucket's
  entry after every bucket-level write request (`S3App`, any PUT/POST/DELETE without a key),
  whether or not it succeeded, and a read that started before the drop never stores its answer.
- A change made elsewhere (another API process or worker, `cairn admin`, the background
  service) is seen within `ttl_s` seconds.
- A missing bucket is never cached: NoSuchBucket is always the metadata service's current answer.

Concurrent requests for a bucket whose entry is missing or stale share one metadata call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cairn.metadata.models import BucketContext

Fetch = Callable[[str], Awaitable[BucketContext]]


@dataclass(slots=True)
class _Entry:
    context: BucketContext
    expires: float


class BucketContextCache:
    def __init__(
        self,
        fetch: Fetch,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl_s
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, _Entry] = {}
        self._generation: dict[str, int] = {}  # bumped by invalidate(): a read older than it is not stored
        self._pending: dict[str, asyncio.Future[BucketContext]] = {}

    async def get(self, name: str) -> BucketContext:
        """The bucket's context: cached when fresh, else read (one read for concurrent callers)."""
        entry = self._entries.get(name)
        if entry is not None and entry.expires > self._clock():
            return entry.context
        if self._ttl <= 0:
            return await self._fetch(name)
        pending = self._pending.get(name)
        if pending is None:
            pending = asyncio.ensure_future(self._read(name))
            self._pending[name] = pending
        return await asyncio.shield(pending)  # a cancelled request leaves the read running

    async def _read(self, name: str) -> BucketContext:
        generation = self._generation.get(name, 0)
        started = self._clock()
        try:
            context = await self._fetch(name)
        finally:
            if self._pending.get(name) is asyncio.current_task():
                del self._pending[name]
        if self._generation.get(name, 0) == generation:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[name] = _Entry(context, started + self._ttl)
        return context

    def invalidate(self, name: str) -> None:
        """Forget `name`'s entry; a read in flight will not store its (possibly older) answer."""
        self._entries.pop(name, None)
        self._pending.pop(name, None)
        self._generation[name] = self._generation.get(name, 0) + 1
