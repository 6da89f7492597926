"""The metadata service's repair-queue RPCs (the tables and appliers are in repair_queue.py)."""

from __future__ import annotations

from collections.abc import Sequence

from cairn.metadata import commands as c
from cairn.metadata.core import ServiceCore
from cairn.metadata.errors import InvalidArgument
from cairn.metadata.models import RepairItem, RepairReport
from cairn.metadata.repair_queue import KINDS, SOURCES, read_queue

#: Reports one QueueRepairs call may carry, and items one listing answers at most.
MAX_BATCH = 10_000


def _check(report: RepairReport) -> None:
    if len(report.blob_id) != 16:
        raise InvalidArgument("a blob id is 16 bytes")
    if not 0 <= report.index < 256 or report.pg < 0:
        raise InvalidArgument(f"shard index {report.index} or pg {report.pg} out of range")
    if report.kind not in KINDS or report.source not in SOURCES:
        raise InvalidArgument(f"unknown repair report kind {report.kind!r} or source {report.source!r}")


class RepairQueueOps(ServiceCore):
    async def queue_repairs(self, reports: Sequence[RepairReport]) -> int:
        """Queue shards for repair; returns how many reports were queued."""
        if len(reports) > MAX_BATCH:
            raise InvalidArgument(f"at most {MAX_BATCH} repair reports per call")
        for report in reports:
            _check(report)
        if not reports:
            return 0
        await self.leading()
        found: int = await self.write_catalog(c.QueueRepairs(tuple(reports), self.now_ms()))
        return found

    async def list_repair_queue(self, limit: int = 1000) -> tuple[RepairItem, ...]:
        """The oldest queued items first (by id)."""
        await self.linearize()
        return tuple(await self.store.catalog.read(read_queue, max(0, min(limit, MAX_BATCH))))

    async def ack_repairs(self, ids: Sequence[int]) -> int:
        """Drop items by id; returns how many were still queued."""
        if len(ids) > MAX_BATCH:
            raise InvalidArgument(f"at most {MAX_BATCH} repair acks per call")
        if not ids:
            return 0
        await self.leading()
        found: int = await self.write_catalog(c.AckRepairs(tuple(ids)))
        return found
