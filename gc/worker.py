"""The worker framework of the background service: timed, throttled, once-runnable passes.

A worker does its job in *passes* (`run_pass`), each returning counters of what it did, and
can measure the work waiting (`backlog`). `WorkerLoop` runs one worker: a pass every
`interval_s` on its timer, or one now (`run_once`, for `cairn admin gc run --once`). A worker
that lists every placement group (repair, the orphan sweep) may do less on its timer
(`run_timed_pass`): the PGs with work, and a `Sweep` share of the others. Passes
of one worker never overlap: a pass asked for while one runs starts after it. With a lease
(gc/lease.py) a pass runs only while this instance holds it (else it ends at once with the
counter `lease_waiting`) and is cancelled when the lease is lost meanwhile. Work is kept
where it is durable (the metadata service's GC queue, the uploads themselves), so a pass that
a crash cut short is resumed by the next one. `Throttle` spaces out units of work (blobs per
second) so foreground traffic keeps its share of the nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

log = logging.getLogger("cairn.gc")


class Lease(Protocol):
    """The service lease (gc/lease.py) as the loop uses it."""

    async def acquire(self) -> int | None: ...

    async def lost(self) -> None: ...


class LeaseGone(Exception):
    """The lease was lost while a pass ran; the pass was stopped."""


class Worker(Protocol):
    name: str

    async def run_pass(self) -> Counter[str]:
        """Do the work waiting now; return counters of what was done."""
        ...

    async def backlog(self) -> dict[str, int]:
        """The work waiting now (e.g. queued blobs and their bytes)."""
        ...


@runtime_checkable
class TimedWorker(Worker, Protocol):
    async def run_timed_pass(self) -> Counter[str]:
        """The pass the timer runs: less than `run_pass` (what `run_once` runs), e.g. a share
        of a sweep."""
        ...


class Sweep:
    """Which placement groups a timed pass lists besides those with work: the next share of
    all of them in turn, so that passes every `interval_s` list every PG once per `sweep_s`
    (0: every timed pass lists them all). The first pass starts where the turn would be had
    the service run since the epoch (`wall`): a service restarted more often than `sweep_s`
    still comes to every PG."""

    def __init__(self, interval_s: float, sweep_s: float, wall: Callable[[], float] = time.time) -> None:
        self.share = 1.0 if sweep_s <= 0 else min(1.0, interval_s / sweep_s)
        self._interval_s = interval_s
        self._wall = wall
        self._next: int | None = None

    def take(self, pg_count: int) -> list[int]:
        """The PGs of this pass: at least one, the ones after the last pass's, wrapping."""
        if pg_count <= 0:
            return []
        n = min(pg_count, max(1, math.ceil(pg_count * self.share - 1e-9)))
        if self._next is None:
            self._next = int(self._wall() // self._interval_s) * n
        start = self._next % pg_count
        self._next = (start + n) % pg_count
        return [(start + i) % pg_count for i in range(n)]


@dataclass(frozen=True, slots=True)
class PassResult:
    worker: str
    started_s: float
    duration_s: float
    counters: dict[str, int]
    error: str = ""


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    name: str
    interval_s: float
    running: bool
    passes: int
    totals: dict[str, int]
    last: PassResult | None
    backlog: dict[str, int] = field(default_factory=dict)
    failures: int = 0


class Throttle:
    """At most `rate` units per second (0: unlimited), spread evenly: `await take()` per unit."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def take(self, units: int = 1) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + units / self.rate
            if start > now:
                await asyncio.sleep(start - now)


class WorkerLoop:
    """One worker on its timer, plus passes run on request; keeps its counters."""

    def __init__(
        self,
        worker: Worker,
        interval_s: float,
        wall: Callable[[], float] = time.time,
        lease: Lease | None = None,
    ) -> None:
        self.worker = worker
        self.lease = lease
        self.interval_s = interval_s
        self._wall = wall
        self._lock = asyncio.Lock()
        self._totals: Counter[str] = Counter()
        self._passes = 0
        self._failures = 0
        self._last: PassResult | None = None

    @property
    def name(self) -> str:
        return self.worker.name

    async def run_once(self, *, timed: bool = False) -> PassResult:
        """One pass now (after the one running, if any): the whole `run_pass`, or with `timed`
        the worker's `run_timed_pass` if it has one. A failed pass is reported, not raised."""
        async with self._lock:
            started, t0 = self._wall(), time.monotonic()
            counters: Counter[str] = Counter()
            error = ""
            try:
                counters = await self._pass(timed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a pass fails as a whole; the next one retries
                log.exception("%s pass failed", self.name)
                error = f"{type(exc).__name__}: {exc}"
            result = PassResult(self.name, started, time.monotonic() - t0, dict(counters), error)
            self._passes += 1
            self._failures += bool(error)
            self._totals.update(counters)
            self._last = result
            if counters or error:
                log.info("%s pass: %s%s", self.name, dict(counters), f" error: {error}" if error else "")
            return result

    async def _pass(self, timed: bool) -> Counter[str]:
        """The worker's pass, while this instance holds the lease (if the loop has one): without
        it the pass is `lease_waiting`; a pass during which the lease is lost is cancelled."""
        run = (
            self.worker.run_timed_pass
            if timed and isinstance(self.worker, TimedWorker)
            else self.worker.run_pass
        )
        if self.lease is None:
            return await run()
        if await self.lease.acquire() is None:
            return Counter(lease_waiting=1)
        work = asyncio.ensure_future(run())
        lost = asyncio.ensure_future(self.lease.lost())
        try:
            await asyncio.wait((work, lost), return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
        if work.cancelled():
            raise LeaseGone("the gc lease was lost during the pass (another instance acts)")
        return work.result()

    async def run_forever(self) -> None:
        """A timed pass every `interval_s` until cancelled (the first one after one interval)."""
        while True:
            await asyncio.sleep(self.interval_s)
            await self.run_once(timed=True)

    async def status(self) -> WorkerStatus:
        backlog: dict[str, int] = {}
        with contextlib.suppress(Exception):  # a backlog that cannot be measured now is left out
            backlog = await self.worker.backlog()
        return WorkerStatus(
            self.name,
            self.interval_s,
            self._lock.locked(),
            self._passes,
            dict(self._totals),
            self._last,
            backlog,
            self._failures,
        )
