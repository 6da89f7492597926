"""The gc service's metrics and readiness (served by cairn.ops_http when `ops_port` is set).

Before each scrape `refresh` asks the service for every worker's status (its counters since
this process started and the work waiting now, which costs the backlog's RPCs: the GC queue's
oldest 10,000 entries, the placement service's repair work); a refresh that fails or takes
longer than `REFRESH_TIMEOUT_S` keeps the previous values. Per worker (label `worker`):

- `cairn_gc_passes_total`, `cairn_gc_pass_failures_total`, `cairn_gc_pass_running`,
  `cairn_gc_last_pass_timestamp_seconds` (when the last pass started), `cairn_gc_last_pass_duration_seconds`;
- `cairn_gc_work_total{counter}`: every counter its passes reported (`blobs_reclaimed`,
  `shards_deleted`, `orphans_deleted`, `shards_copied`, `lease_waiting`, ...);
- `cairn_gc_backlog{item}`: the work waiting (`queued_blobs`, `queued_bytes`, `expired_intents`,
  `orphan_candidates`, `leftover_candidates`, `pgs_needing_repair`, `slots_to_repair`, and while a repair pass runs
  `pass_shards_found`/`pass_bytes_found` and `pass_shards_done`/`pass_bytes_done`).

Across workers: `cairn_gc_bytes_reclaimed_total` (shards deleted by `reclaim` and `orphans`, and
leftover copies `orphans` released),
`cairn_gc_bytes_compacted_total` (volume bytes the data nodes gave back on `compaction`'s
passes), `cairn_gc_bytes_repaired_total` (shard bytes `repair` copied or rebuilt),
`cairn_gc_repair_degraded_pgs{failures_tolerated}` (the PGs needing repair by the node failures
they can still absorb) and `cairn_gc_lease_held` (1 while this instance holds the service lease,
so only it acts). Scrub findings are the data nodes' own (their /metrics).

Ready (`/cairn/health/ready`): the placement service answers this instance (it needs the lease
from it before any worker acts); the body names the lease's holder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from cairn.gc.lease import ServiceLease
from cairn.gc.service import GcService
from cairn.gc.worker import WorkerStatus
from cairn.ops_http import Health

log = logging.getLogger("cairn.gc")

REFRESH_TIMEOUT_S = 20.0
DEGRADED_PREFIX = "pgs_failures_tolerated_"

#: (metric, help, [(worker, counter), ...]) summed over the workers' totals.
BYTES = (
    (
        "cairn_gc_bytes_reclaimed",
        "Bytes of shards deleted (GC queue, expired intents, orphans) or released (leftovers)",
        (
            ("reclaim", "bytes_reclaimed"),
            ("orphans", "orphan_bytes_deleted"),
            ("orphans", "leftover_bytes_released"),
        ),
    ),
    (
        "cairn_gc_bytes_compacted",
        "Volume bytes given back by compaction",
        (("compaction", "bytes_reclaimed"),),
    ),
    (
        "cairn_gc_bytes_repaired",
        "Shard bytes copied or rebuilt by repair",
        (("repair", "bytes_copied"), ("repair", "bytes_rebuilt")),
    ),
)


class GcCollector(Collector):
    def __init__(self, lease: ServiceLease | None) -> None:
        self.lease = lease
        self.statuses: Sequence[WorkerStatus] = ()

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        passes = CounterMetricFamily("cairn_gc_passes", "Passes run", labels=["worker"])
        failures = CounterMetricFamily("cairn_gc_pass_failures", "Passes that failed", labels=["worker"])
        running = GaugeMetricFamily("cairn_gc_pass_running", "1 while a pass runs", labels=["worker"])
        last_at = GaugeMetricFamily(
            "cairn_gc_last_pass_timestamp_seconds",
            "When the last pass started (Unix time)",
            labels=["worker"],
        )
        last_took = GaugeMetricFamily(
            "cairn_gc_last_pass_duration_seconds", "How long the last pass took", labels=["worker"]
        )
        work = CounterMetricFamily(
            "cairn_gc_work", "What the passes did, by counter", labels=["worker", "counter"]
        )
        backlog = GaugeMetricFamily("cairn_gc_backlog", "Work waiting now", labels=["worker", "item"])
        degraded = GaugeMetricFamily(
            "cairn_gc_repair_degraded_pgs",
            "PGs needing repair, by the node failures they can still absorb",
            labels=["failures_tolerated"],
        )
        totals: dict[tuple[str, str], int] = {}
        for status in self.statuses:
            name = status.name
            passes.add_metric([name], status.passes)
            failures.add_metric([name], status.failures)
            running.add_metric([name], int(status.running))
            if status.last is not None:
                last_at.add_metric([name], status.last.started_s)
                last_took.add_metric([name], status.last.duration_s)
            for counter, value in sorted(status.totals.items()):
                work.add_metric([name, counter], value)
                totals[(name, counter)] = value
            for item, value in sorted(status.backlog.items()):
                if item.startswith(DEGRADED_PREFIX):
                    degraded.add_metric([item.removeprefix(DEGRADED_PREFIX)], value)
                else:
                    backlog.add_metric([name, item], value)
        yield from (passes, failures, running, last_at, last_took, work, backlog, degraded)
        for metric, text, sources in BYTES:
            yield CounterMetricFamily(metric, text, value=sum(totals.get(s, 0) for s in sources))
        yield GaugeMetricFamily(
            "cairn_gc_lease_held",
            "1 while this instance holds the service lease",
            value=int(self.lease is not None and self.lease.token is not None),
        )


class GcMetrics:
    """What the ops endpoint calls: `refresh` before a scrape, `readiness` for the probe."""

    def __init__(self, service: GcService) -> None:
        self._service = service
        self.collector = GcCollector(service.lease)
        REGISTRY.register(self.collector)

    async def refresh(self) -> None:
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT_S):
                self.collector.statuses = await self._service.status()
        except Exception as exc:  # noqa: BLE001 - a scrape shows the last values rather than failing
            log.warning("gc metrics not refreshed: %s", exc)

    async def readiness(self) -> Health:
        service = self._service
        if service.placement is None or service.lease is None:  # a service built without them
            return Health(True)
        work = await service.placement.repair_work(limit=1)
        return Health(
            True, {"lease_holder": work.lease.holder, "lease_held": service.lease.token is not None}
        )

    def close(self) -> None:
        REGISTRY.unregister(self.collector)
