"""The background-service lease: exactly one gc instance acts, whichever worker runs.

Every worker's pass first takes the placement service's lease (`AcquireLease`, one lease for
the whole service, the one `SlotSynced` checks). The first instance to ask gets it with a fencing
token and renews it every third of its TTL, between passes too, until the service stops
(`close` releases it, so another instance can take over at once) or a renewal is refused
(another instance took it after ours expired). A second instance is refused (`LeaseHeld`):
its passes end at once with the counter `lease_waiting`; after the holder is killed it takes
over on its first pass once the TTL ran out.

`WorkerLoop` calls `acquire()` before a pass and stops the pass (cancels it) when the lease is
lost meanwhile (`lost()`): work is durable, so a cut pass is finished by the next holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Protocol

from cairn.placement.cluster_map import LeaseGrant
from cairn.placement.errors import LeaseHeld, LeaseLost

log = logging.getLogger("cairn.gc")


class LeaseService(Protocol):
    async def acquire_lease(self, holder: str, ttl_s: float, timeout: float = 5.0) -> LeaseGrant: ...

    async def release_lease(self, holder: str, token: int, timeout: float = 5.0) -> None: ...


def instance_id() -> str:
    """This process's lease holder name: host, pid and a random suffix (unique per start)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ServiceLease:
    def __init__(self, placement: LeaseService, holder: str, ttl_s: float) -> None:
        self._placement = placement
        self.holder = holder
        self.ttl_s = ttl_s
        self._grant: LeaseGrant | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._granted_at = 0.0
        self._lost = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def token(self) -> int | None:
        """The fencing token while this instance holds the lease, else None."""
        return self._grant.token if self._grant is not None else None

    async def acquire(self) -> int | None:
        """The lease's token: the one held (kept renewed), else a new grant; None while another
        instance holds it. Placement errors other than `LeaseHeld` propagate (the pass fails)."""
        async with self._lock:
            if self._grant is not None and self._renewer is not None and not self._renewer.done():
                return self._grant.token
            try:
                self._grant = await self._placement.acquire_lease(self.holder, self.ttl_s)
            except LeaseHeld:
                return None
            self._granted_at = time.monotonic()
            log.info("gc lease taken by %s (token %d)", self.holder, self._grant.token)
            self._lost = asyncio.Event()
            self._renewer = asyncio.create_task(self._renew())
            return self._grant.token

    async def lost(self) -> None:
        """Returns once the lease taken last is lost (never while it is held)."""
        await self._lost.wait()

    async def _renew(self) -> None:
        """Renew every third of the TTL until another instance has it, or renewals failed for a
        whole TTL (placement unreachable: the lease may have expired there), or close."""
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                self._grant = await self._placement.acquire_lease(self.holder, self.ttl_s)
                self._granted_at = time.monotonic()
                continue
            except (LeaseHeld, LeaseLost):
                log.warning("gc lease lost by %s", self.holder)
            except Exception as exc:  # noqa: BLE001 - placement unreachable: try again next tick
                log.warning("renewing the gc lease failed: %s", exc)
                if time.monotonic() - self._granted_at < self.ttl_s * 2 / 3:
                    continue
                log.warning("gc lease given up by %s: not renewed for its TTL", self.holder)
            self._grant = None
            self._lost.set()
            return

    async def close(self) -> None:
        """Stop renewing and give the lease up, so another instance can take over at once."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        grant, self._grant = self._grant, None
        if grant is not None:
            with contextlib.suppress(Exception):
                await self._placement.release_lease(self.holder, grant.token)
