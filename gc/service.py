"""The background service: its workers, their timers, and what the gRPC servicer calls.

`GcService.open(config)` connects to the placement replicas and the metadata service and builds
the workers in pass order: `lifecycle` (run the buckets' lifecycle rules: lifecycle.py),
`uploads` (abort abandoned multipart uploads, which queues their parts), `reclaim` (delete the
shards of queued blobs and of expired write intents), `orphans` (delete shards metadata does not
know, after a grace), `compaction` (a compaction pass on every data node, which gives the
deleted shards' space back), then `repair` (copy or rebuild the shards missing on their slots'
targets and end slot moves; repair.py), which acts only while this instance holds the
placement lease.
`start()` puts every worker on its timer; `run_once(names)` runs passes now, in that order.
Exactly one instance should run per cluster (`cairn up` starts one): only the repair worker
takes the placement lease; the other workers of a second instance would act too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from cairn.gc.compaction import CompactionTrigger
from cairn.gc.config import GcConfig
from cairn.gc.errors import UnknownWorker
from cairn.gc.lifecycle import LifecycleWorker
from cairn.gc.nodes import NodePool
from cairn.gc.orphans import OrphanSweepWorker
from cairn.gc.reclaim import ReclaimWorker
from cairn.gc.repair import RepairWorker, instance_id
from cairn.gc.uploads import AbandonedUploadsWorker
from cairn.gc.worker import PassResult, Throttle, WorkerLoop, WorkerStatus
from cairn.metadata.client import MetadataClient
from cairn.placement.client import PlacementClient


class GcService:
    def __init__(self, loops: Sequence[WorkerLoop], closers: Sequence[object] = ()) -> None:
        self.loops = {loop.name: loop for loop in loops}
        self._closers = list(closers)
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def open(cls, config: GcConfig) -> GcService:
        placement = PlacementClient(config.placement)
        metadata = MetadataClient(config.metadata)
        nodes = NodePool()
        reclaim = ReclaimWorker(
            metadata,
            placement,
            nodes,
            batch=config.batch,
            concurrency=config.concurrency,
            throttle=Throttle(config.max_blobs_per_s),
        )
        uploads = AbandonedUploadsWorker(metadata, config.multipart_max_age_s)
        orphans = OrphanSweepWorker(metadata, placement, nodes, grace_s=config.orphan_grace_s)
        compaction = CompactionTrigger(placement, nodes)
        rules = LifecycleWorker(metadata, config.lifecycle_day_s)
        repair = RepairWorker(
            placement,
            metadata,
            nodes,
            holder=instance_id(),
            lease_ttl_s=config.repair_lease_ttl_s,
            concurrency=config.repair_concurrency,
            mb_per_s=config.repair_mb_per_s,
        )
        loops = [WorkerLoop(w, config.interval_s) for w in (rules, uploads, reclaim, orphans, compaction)]
        loops.append(WorkerLoop(repair, config.repair_interval_s))
        return cls(loops, [repair, nodes, metadata, placement])

    def start(self) -> None:
        """Every worker on its timer."""
        self._tasks = [asyncio.create_task(loop.run_forever()) for loop in self.loops.values()]

    def _select(self, names: Sequence[str]) -> list[WorkerLoop]:
        unknown = sorted(set(names) - set(self.loops))
        if unknown:
            raise UnknownWorker(f"no such worker: {', '.join(unknown)} (workers: {', '.join(self.loops)})")
        return [loop for name, loop in self.loops.items() if not names or name in names]

    async def run_once(self, names: Sequence[str] = ()) -> list[PassResult]:
        """One pass of each named worker (all when none), in pass order."""
        return [await loop.run_once() for loop in self._select(names)]

    async def status(self) -> list[WorkerStatus]:
        return [await loop.status() for loop in self.loops.values()]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for closer in self._closers:
            await closer.close()  # type: ignore[attr-defined]
