"""The background service: its workers, their timers, and what the gRPC servicer calls.

`GcService.open(config)` connects to the placement replicas and the metadata service and builds
the workers in pass order: `lifecycle` (run the buckets' lifecycle rules: lifecycle.py),
`uploads` (abort abandoned multipart uploads, which queues their parts), `reclaim` (delete the
shards of queued blobs and of expired write intents), `orphans` (delete shards metadata does not
know and release copies left on nodes that gave their slot up, after a grace), `compaction` (a
compaction pass on every data node, which gives the deleted shards' space back), then `repair`
(copy or rebuild the shards missing on their slots' targets and end slot moves; repair.py).
Repair and the orphan sweep share one lock per PG (pg_locks.py).
`start()` puts every worker on its timer; `run_once(names)` runs passes now, in that order.
Every worker acts only while this instance holds the placement service's lease (gc/lease.py):
a second instance's passes end with `lease_waiting` until the first stops or dies and its
lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from cairn.gc.compaction import CompactionTrigger
from cairn.gc.config import GcConfig
from cairn.gc.errors import UnknownWorker
from cairn.gc.lease import ServiceLease, instance_id
from cairn.gc.lifecycle import LifecycleWorker
from cairn.gc.nodes import NodePool
from cairn.gc.orphans import OrphanSweepWorker
from cairn.gc.pg_locks import PgLocks
from cairn.gc.reclaim import ReclaimWorker
from cairn.gc.repair import RepairWorker
from cairn.gc.uploads import AbandonedUploadsWorker
from cairn.gc.worker import PassResult, Sweep, Throttle, WorkerLoop, WorkerStatus
from cairn.metadata.client import MetadataClient
from cairn.placement.client import PlacementClient


class GcService:
    def __init__(
        self,
        loops: Sequence[WorkerLoop],
        closers: Sequence[object] = (),
        *,
        lease: ServiceLease | None = None,
        placement: PlacementClient | None = None,
    ) -> None:
        self.loops = {loop.name: loop for loop in loops}
        self.lease = lease
        self.placement = placement
        self._closers = list(closers)
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def open(cls, config: GcConfig) -> GcService:
        placement = PlacementClient(config.placement)
        metadata = MetadataClient(config.metadata)
        nodes = NodePool()
        lease = ServiceLease(placement, instance_id(), config.repair_lease_ttl_s)
        pg_locks = PgLocks()  # repair and the leftover sweep never act on one PG at once
        reclaim = ReclaimWorker(
            metadata,
            placement,
            nodes,
            batch=config.batch,
            concurrency=config.concurrency,
            throttle=Throttle(config.max_blobs_per_s),
        )
        uploads = AbandonedUploadsWorker(metadata, config.multipart_max_age_s)
        orphans = OrphanSweepWorker(
            metadata,
            placement,
            nodes,
            grace_s=config.orphan_grace_s,
            throttle=Throttle(config.orphan_shards_per_s),
            pg_locks=pg_locks,
            sweep=Sweep(config.interval_s, config.sweep_s),
        )
        compaction = CompactionTrigger(placement, nodes)
        rules = LifecycleWorker(metadata, config.lifecycle_day_s)
        repair = RepairWorker(
            placement,
            metadata,
            nodes,
            holder=lease.holder,
            concurrency=config.repair_concurrency,
            mb_per_s=config.repair_mb_per_s,
            lease=lease,
            pg_locks=pg_locks,
            sweep=Sweep(config.repair_interval_s, config.sweep_s),
        )
        workers = (rules, uploads, reclaim, orphans, compaction)
        loops = [WorkerLoop(w, config.interval_s, lease=lease) for w in workers]
        loops.append(WorkerLoop(repair, config.repair_interval_s, lease=lease))
        return cls(loops, [lease, nodes, metadata, placement], lease=lease, placement=placement)

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
