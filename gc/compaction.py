"""The compaction trigger: ask every data node of the map for a compaction pass, after GC.

A data node compacts on its own timer too (datanode/compaction.py, its own thresholds); this
worker runs a pass on every node now, one node at a time so the nodes of a PG are not all
rewriting at once, and follows each pass to its end. It is the last worker of a pass, so
`cairn admin gc run --once` deletes shards and then gives their space back. A node that does
not answer is counted and tried again next pass.
"""

from __future__ import annotations

import logging
from collections import Counter

from cairn.datanode.client import DataNodeError, DataNodeUnavailable
from cairn.datanode.reports import CompactUpdate
from cairn.gc.nodes import NodePool
from cairn.gc.reclaim import MapSource

log = logging.getLogger("cairn.gc")


class CompactionTrigger:
    name = "compaction"

    def __init__(self, placement: MapSource, nodes: NodePool) -> None:
        self._placement = placement
        self._nodes = nodes

    async def run_pass(self) -> Counter[str]:
        counters: Counter[str] = Counter()
        cmap = await self._placement.cluster_map()
        for node in sorted(cmap.nodes.values(), key=lambda n: n.id):
            last: CompactUpdate | None = None
            try:
                async for update in self._nodes.client(node.addr).compact():
                    last = update
            except DataNodeUnavailable:
                counters["nodes_unavailable"] += 1
                continue
            except DataNodeError as exc:
                log.warning("compaction on %s failed: %s", node.id, exc)
                counters["node_errors"] += 1
                continue
            if last is not None:
                counters["volumes_compacted"] += len(last.progress.results)
                counters["bytes_reclaimed"] += last.progress.reclaimed_bytes
        return counters

    async def backlog(self) -> dict[str, int]:
        return {}
