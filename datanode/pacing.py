"""Keeping background I/O (compaction, scrub) under a configured rate, on an injectable clock.

A `Pacer` is told how many bytes were just read or written and sleeps until the stream is
back under `bytes_per_s`. It allows a burst of `burst_s` seconds' worth of bytes, so a pass
that paused (waiting for the disk, or for the foreground) does not race to catch up.
Bound, for any interval starting at the pacer's creation or later: bytes reported by time
t <= rate * (t - t0) + rate * burst_s + the last report's size.

Tests drive it with a fake `Clock` whose `sleep` only advances the time, so they check the
amount of I/O against the clock without waiting.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float:
        """Unix time in seconds (timestamps kept on disk)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Pacer:
    """Rate limit for one stream of background I/O; `bytes_per_s` <= 0 means unlimited."""

    def __init__(self, bytes_per_s: float, clock: Clock, burst_s: float = 0.1) -> None:
        self.bytes_per_s = bytes_per_s
        self.total_bytes = 0  # reported so far
        self.slept_s = 0.0  # time spent waiting so far
        self._clock = clock
        self._burst_s = burst_s
        self._due = clock.monotonic()  # when the bytes reported so far are "paid for"

    async def pace(self, n: int) -> None:
        """Account `n` bytes of I/O just done; sleep until the rate allows more."""
        self.total_bytes += n
        if self.bytes_per_s <= 0 or n <= 0:
            return
        now = self._clock.monotonic()
        self._due = max(self._due, now - self._burst_s) + n / self.bytes_per_s
        if self._due > now:
            self.slept_s += self._due - now
            await self._clock.sleep(self._due - now)
