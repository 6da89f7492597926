"""Reporting shards for repair: what a PUT could not write and what a reader found bad.

`RepairReporter.report` is what the data path calls (the writer for each shard missing from a
PUT or UploadPart that still reached its quorum, the reader's `on_fault` for a corrupt or
missing shard): it only puts the report in memory and returns, so it never slows or fails the
request. A background task sends the reports to the metadata service's repair queue
(`QueueRepairs`) in batches, retrying a failed call `attempts` times with a growing pause.
A report still unsent after that, or one arriving while `max_pending` reports wait, is
dropped with a warning and counted (`dropped`): the repair worker's periodic per-PG pass still
finds a missing shard, and the data nodes' scrub a corrupt one. A shard reported again while
its report waits is sent once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from cairn.metadata.models import RepairReport

log = logging.getLogger(__name__)

QueueRepairs = Callable[[Sequence[RepairReport]], Awaitable[object]]


class RepairReporter:
    def __init__(
        self,
        queue: QueueRepairs,
        *,
        batch: int = 500,
        max_pending: int = 10_000,
        attempts: int = 6,
        backoff_s: float = 0.2,
    ) -> None:
        self._queue = queue
        self._batch = batch
        self._max_pending = max_pending
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._pending: dict[tuple[bytes, int], RepairReport] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.sent = 0
        self.dropped = 0

    def report(self, report: RepairReport) -> None:
        """Queue `report` for sending; never blocks, never raises."""
        key = (report.blob_id, report.index)
        if key not in self._pending and len(self._pending) >= self._max_pending:
            self.dropped += 1
            log.warning(
                "repair report of %s shard %d dropped: too many waiting", report.blob_id.hex(), report.index
            )
            return
        self._pending[key] = report
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = [self._pending.pop(k) for k in list(self._pending)[: self._batch]]
                await self._send(batch)
            if not self._pending:
                self._idle.set()

    async def _send(self, batch: list[RepairReport]) -> None:
        for attempt in range(self._attempts):
            try:
                await self._queue(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure is retried, then dropped
                if attempt + 1 == self._attempts:
                    self.dropped += len(batch)
                    log.warning(
                        "%d repair reports dropped after %d attempts: %s", len(batch), self._attempts, exc
                    )
                    return
                await asyncio.sleep(self._backoff_s * 2**attempt)
            else:
                self.sent += len(batch)
                return

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Wait (at most `timeout_s`) until every waiting report was sent or dropped."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()

    async def close(self, timeout_s: float = 2.0) -> None:
        """Send what waits (at most `timeout_s`), then stop the background task."""
        await self.flush(timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
