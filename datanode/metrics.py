"""A data node's metrics and readiness, refreshed from its store before each scrape.

Shard reads, writes and errors are the gRPC request counters every service has
(`cairn_grpc_requests_total{method="ReadShard"|"WriteShard"|"PutShard"|..., code}`, bytes in
`cairn_grpc_received_bytes_total` / `cairn_grpc_sent_bytes_total`; see cairn.metrics). This module
adds the node's capacity and usage as its heartbeats report them (capacity.py):
`cairn_datanode_capacity_bytes`, `cairn_datanode_used_bytes`, `cairn_datanode_full` (1 past the
reserve or at capacity: no new placement slots), `cairn_datanode_filesystem_size_bytes` /
`..._free_bytes`; and `cairn_datanode_volume_bytes` (its volume files),
`cairn_datanode_shards{state}` (live, dead), `cairn_datanode_volumes{sealed}`,
`cairn_datanode_state{state}` (the store's: up, full or stopping) and
`cairn_datanode_heartbeat_failures` (consecutive failed heartbeats).

Ready (`/cairn/health/ready`): the store is open (a full node is ready: it still serves reads).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Gauge

from cairn.datanode.capacity import Usage
from cairn.datanode.heartbeat import Heartbeater
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

STATES = ("up", "full", "stopping")


class NodeMetrics:
    """Refreshes the gauges above from one node's store and heartbeat loop."""

    def __init__(self, store: DiskShardStore, heartbeater: Heartbeater, usage: Callable[[], Usage]) -> None:
        self.store = store
        self.heartbeater = heartbeater
        self.usage = usage  # blocking

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
