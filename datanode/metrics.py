"""A data node's metrics and readiness, refreshed from its store before each scrape.

Shard reads, writes and errors are the gRPC request counters every service has
(`cairn_grpc_requests_total{method="ReadShard"|"WriteShard"|"PutShard"|..., code}`, bytes in
`cairn_grpc_received_bytes_total` / `cairn_grpc_sent_bytes_total`; see cairn.grpc_metrics). This module
adds the node's capacity and usage as its heartbeats report them (capacity.py):
`cairn_datanode_capacity_bytes`, `cairn_datanode_used_bytes`, `cairn_datanode_full` (1 past the
reserve or at capacity: no new placement slots), `cairn_datanode_filesystem_size_bytes` /
`..._free_bytes`; and `cairn_datanode_volume_bytes` (its volume files),
`cairn_datanode_shards{state}` (live, dead), `cairn_datanode_volumes{sealed}`,
`cairn_datanode_state{state}` (the store's: up, full or stopping) and
`cairn_datanode_heartbeat_failures` (consecutive failed heartbeats).

Compaction: `cairn_datanode_compaction_running`, `cairn_datanode_compaction_queue_volumes`
(volumes the pass under way has still to do), `cairn_datanode_compaction_copied_bytes` (of the
job under way), `cairn_datanode_compactions{outcome}` (jobs done or ended otherwise, all time) and
`cairn_datanode_compaction_reclaimed_bytes` (all time). Scrub: `cairn_datanode_scrub_state{state}`
(idle, running, paused), `cairn_datanode_scrub_pass_volumes{of}` (done, total),
`cairn_datanode_scrub_pass_bytes` (read in the pass; its rate is the scrub's throughput) and
`cairn_datanode_scrub_findings` (shards found corrupt or missing, for repair).

Ready (`/cairn/health/ready`): the store is open (a full node is ready: it still serves reads).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Gauge

from cairn.datanode.capacity import Usage
from cairn.datanode.compaction import Compactor
from cairn.datanode.heartbeat import Heartbeater
from cairn.datanode.reports import ScrubState
from cairn.datanode.scrub import Scrubber
from cairn.datanode.store import DiskShardStore
from cairn.ops_http import Health

CAPACITY = Gauge("cairn_datanode_capacity_bytes", "Bytes this node offers (its heartbeat's capacity)")
USED = Gauge("cairn_datanode_used_bytes", "Bytes its heartbeat reports as used")
FULL = Gauge("cairn_datanode_full", "1 when the node is past its reserve or at capacity")
VOLUME_BYTES = Gauge("cairn_datanode_volume_bytes", "Bytes of this node's volume files")
FS_SIZE = Gauge("cairn_datanode_filesystem_size_bytes", "Size of the filesystem holding the data directory")
FS_FREE = Gauge(
    "cairn_datanode_filesystem_free_bytes", "Free bytes of the filesystem holding the data directory"
)
SHARDS = Gauge("cairn_datanode_shards", "Shards in the index by state", ["state"])
VOLUMES = Gauge("cairn_datanode_volumes", "Volume files, sealed or still appended to", ["sealed"])
STATE = Gauge("cairn_datanode_state", "1 for the node's current state", ["state"])
HEARTBEAT_FAILURES = Gauge("cairn_datanode_heartbeat_failures", "Consecutive failed heartbeats")
COMPACTION_RUNNING = Gauge("cairn_datanode_compaction_running", "1 while a compaction pass runs")
COMPACTION_QUEUE = Gauge(
    "cairn_datanode_compaction_queue_volumes", "Volumes the running pass has still to do"
)
COMPACTION_COPIED = Gauge("cairn_datanode_compaction_copied_bytes", "Bytes the job under way copied so far")
COMPACTIONS = Gauge("cairn_datanode_compactions", "Compaction jobs, all time, by outcome", ["outcome"])
COMPACTION_RECLAIMED = Gauge(
    "cairn_datanode_compaction_reclaimed_bytes", "Bytes compaction reclaimed, all time"
)
SCRUB_STATE = Gauge("cairn_datanode_scrub_state", "1 for the scrub's current state", ["state"])
SCRUB_VOLUMES = Gauge("cairn_datanode_scrub_pass_volumes", "Volumes of the current or last pass", ["of"])
SCRUB_BYTES = Gauge("cairn_datanode_scrub_pass_bytes", "Bytes the current or last scrub pass read")
SCRUB_FINDINGS = Gauge("cairn_datanode_scrub_findings", "Live shards scrub found corrupt or missing")

STATES = ("up", "full", "stopping")


class NodeMetrics:
    """Refreshes the gauges above from one node's store and heartbeat loop."""

    def __init__(
        self,
        store: DiskShardStore,
        heartbeater: Heartbeater,
        usage: Callable[[], Usage],
        compactor: Compactor,
        scrubber: Scrubber,
    ) -> None:
        self.store = store
        self.heartbeater = heartbeater
        self.usage = usage  # blocking
        self.compactor = compactor
        self.scrubber = scrubber

    async def refresh(self) -> None:
        stats = await self.store.stats()
        usage = await self.store.run_blocking(self.usage)
        CAPACITY.set(usage.capacity_bytes)
        USED.set(usage.used_bytes)
        FULL.set(int(usage.full))
        FS_SIZE.set(usage.filesystem_bytes)
        FS_FREE.set(usage.free_bytes)
        VOLUME_BYTES.set(stats.used_bytes)
        SHARDS.labels("live").set(stats.live_shards)
        SHARDS.labels("dead").set(stats.dead_shards)
        VOLUMES.labels("true").set(stats.sealed_volumes)
        VOLUMES.labels("false").set(stats.volumes - stats.sealed_volumes)
        for state in STATES:
            STATE.labels(state).set(int(stats.state == state))
        HEARTBEAT_FAILURES.set(self.heartbeater.failures)
        await self._upkeep()

    async def _upkeep(self) -> None:
        compaction = await self.compactor.status()
        running_pass = compaction.last_pass if compaction.running else None
        queued = len(running_pass.volumes) - len(running_pass.results) if running_pass else 0
        COMPACTION_RUNNING.set(int(compaction.running))
        COMPACTION_QUEUE.set(max(0, queued))
        COMPACTION_COPIED.set(compaction.current.copied_bytes if compaction.current else 0)
        COMPACTIONS.labels("done").set(compaction.compacted)
        COMPACTIONS.labels("other").set(compaction.aborted)
        COMPACTION_RECLAIMED.set(compaction.reclaimed_bytes)
        scrub = await self.scrubber.status()
        for state in ScrubState:
            SCRUB_STATE.labels(state.value).set(int(scrub.state == state))
        SCRUB_VOLUMES.labels("done").set(scrub.pass_volumes_done)
        SCRUB_VOLUMES.labels("total").set(scrub.pass_volumes_total)
        SCRUB_BYTES.set(scrub.pass_bytes)
        SCRUB_FINDINGS.set(scrub.findings)

    async def readiness(self) -> Health:
        stats = await self.store.stats()
        usage = await self.store.run_blocking(self.usage)
        detail = {
            "node_id": self.heartbeater.node_id,
            "state": stats.state,
            "full": usage.full,
            "capacity_bytes": usage.capacity_bytes,
            "used_bytes": usage.used_bytes,
            "heartbeat_failures": self.heartbeater.failures,
        }
        return Health(stats.state != "stopping", detail)
