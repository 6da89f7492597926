"""One lock per placement group, shared by the repair worker and the orphan sweep of one service.

Repair holds a PG's lock while it lists, copies and reports the PG's slots synced; the orphan
sweep holds it while it re-reads the map and releases copies left on nodes the map no longer
names for their slot. So a release never lands between repair's listing of a node it writes to
(a node the slot came back to) and its report that the slot is synced.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class PgLocks:
    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(self, pg: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(pg, asyncio.Lock())
        async with lock:
            yield
