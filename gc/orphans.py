"""The orphan sweep: shards a data node holds that metadata does not know are deleted after a grace.

A pass lists, for every node of the cluster map and every placement group, the node's shards
of that PG page by page (ListShards), and asks metadata which of the live ones' blobs it
still knows (FindBlobs: a version, an open upload's part, a write intent, the GC queue). An
unknown shard is an orphan *candidate*: it is deleted only once it has been seen unknown for
`grace_s` (the first sighting is remembered in memory, so a restarted service starts every
grace again). The API records a write intent before it sends any shard, so a PUT in flight
is always known; the grace covers writers that record their intent afterwards (the metadata
bulk load) and is the margin against any other order.

Throttled: at most `orphan_shards_per_s` shards deleted per second (0: no limit). A pass cut
short (the service killed) leaves the rest for the next passes, after the grace again.

Memory: the candidates only; the listing is streamed page by page, so a node with millions of
shards costs one page at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

from cairn.datanode.client import DataNodeError, DataNodeUnavailable, ShardInfo, ShardKey, ShardState
from cairn.gc.nodes import NodePool
from cairn.gc.reclaim import MapSource
from cairn.gc.worker import Throttle
from cairn.placement.cluster_map import ClusterMap, NodeInfo

log = logging.getLogger("cairn.gc")

PAGE = 1000


class BlobCatalog(Protocol):
    async def find_blobs(self, blob_ids: Sequence[bytes]) -> tuple[bytes, ...]: ...


class OrphanSweepWorker:
    name = "orphans"

    def __init__(
        self,
        catalog: BlobCatalog,
        placement: MapSource,
        nodes: NodePool,
        *,
        grace_s: float,
        clock: Callable[[], float] = time.monotonic,
        throttle: Throttle | None = None,
    ) -> None:
        self._catalog = catalog
        self._placement = placement
        self._nodes = nodes
        self.grace_s = grace_s
        self._clock = clock
        self._throttle = throttle or Throttle(0)
        self._first_seen: dict[tuple[str, ShardKey], float] = {}

    async def run_pass(self) -> Counter[str]:
        counters: Counter[str] = Counter()
        cmap = await self._placement.cluster_map()
        seen: set[tuple[str, ShardKey]] = set()
        await asyncio.gather(*(self._sweep_node(cmap, node, seen, counters) for node in cmap.nodes.values()))
        for gone in set(self._first_seen) - seen:  # deleted, or known again
            del self._first_seen[gone]
        return counters

    async def _sweep_node(
        self, cmap: ClusterMap, node: NodeInfo, seen: set[tuple[str, ShardKey]], counters: Counter[str]
    ) -> None:
        client = self._nodes.client(node.addr)
        try:
            for pg in range(cmap.pg_count):
                after: ShardKey | None = None
                while True:
                    shards, after = await client.list_shards(pg, after, PAGE)
                    await self._check(node, [s for s in shards if s.state is ShardState.LIVE], seen, counters)
                    if after is None:
                        break
        except DataNodeUnavailable:
            counters["nodes_unavailable"] += 1
            # its candidates keep their first sighting: the node is swept again next pass
            seen.update(k for k in self._first_seen if k[0] == node.id)
        except DataNodeError as exc:
            log.warning("orphan sweep of %s failed: %s", node.id, exc)
            counters["node_errors"] += 1
            seen.update(k for k in self._first_seen if k[0] == node.id)

    async def _check(
        self, node: NodeInfo, shards: list[ShardInfo], seen: set[tuple[str, ShardKey]], counters: Counter[str]
    ) -> None:
        counters["shards_listed"] += len(shards)
        if not shards:
            return
        known = set(await self._catalog.find_blobs(sorted({s.key.blob_id for s in shards})))
        now = self._clock()
        due: list[ShardInfo] = []
        for shard in shards:
            if shard.key.blob_id in known:
                continue
            candidate = (node.id, shard.key)
            seen.add(candidate)
            if candidate not in self._first_seen:
                counters["orphans_found"] += 1
            first = self._first_seen.setdefault(candidate, now)
            if now - first >= self.grace_s:
                due.append(shard)
        if due:
            await self._throttle.take(len(due))
            deleted = await self._nodes.client(node.addr).delete_shards([s.key for s in due])
            counters["orphans_deleted"] += deleted
            counters["orphan_bytes_deleted"] += sum(s.length for s in due)
            for shard in due:
                seen.discard((node.id, shard.key))

    async def backlog(self) -> dict[str, int]:
        return {"orphan_candidates": len(self._first_seen)}
