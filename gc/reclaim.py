"""The GC worker: delete the shards of blobs the metadata service hands over, then ack them.

Its work list is the metadata service's GC queue (blobs of deleted or replaced versions,
aborted uploads and unused parts) plus expired write intents (blobs of PUTs whose API process
died, or gave up, before the commit: the metadata service refuses a commit once its intent
expired, so their shards can go). For each blob, shard i is deleted on every node that holds
or held slot i of the blob's placement group: its target in the current cluster map and, while
the slot's move is pending, the old holders the layout history lists (`holders_of`). A data
node keeps a tombstone for a key it never held, so a delete is idempotent and a late write of
that shard is refused. A blob is acked (and leaves the queue) only when every one of those
nodes answered the delete; a node that is down or fails leaves the blob queued for the next
pass.

Once a move is synced (`SlotSynced`) the map no longer lists the old holder, so a copy left
there is not reached here: the orphan sweep releases it while the blob lives (a leftover,
orphans.py) and deletes it after the grace once metadata no longer knows the blob.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from cairn.datanode.client import DataNodeError, DataNodeUnavailable, ShardKey
from cairn.gc.nodes import NodePool
from cairn.gc.worker import Throttle
from cairn.metadata.models import GcItem, GcReason
from cairn.placement.cluster_map import ClusterMap, NodeInfo

log = logging.getLogger("cairn.gc")

#: Blobs measured at most by `backlog` (the metadata service answers at most this many).
BACKLOG_LIMIT = 10_000


class GcQueue(Protocol):
    async def list_gc_work(self, limit: int = 1000) -> tuple[GcItem, ...]: ...

    async def ack_gc_work(self, blob_ids: Sequence[bytes]) -> int: ...


class MapSource(Protocol):
    async def cluster_map(self, min_epoch: int = 0, wait_s: float = 0.0) -> ClusterMap: ...


def shard_nodes(cmap: ClusterMap, pg: int) -> list[tuple[int, NodeInfo]]:
    """Per slot of `pg`, every node that may hold its shards: the target, then the old holders
    the layout history lists while the slot's move is pending (removed nodes are not listed)."""
    found: list[tuple[int, NodeInfo]] = []
    for slot, target in enumerate(cmap.pgs[pg]):
        ids = dict.fromkeys([target, *cmap.holders_of(pg, slot)])
        found += [(slot, cmap.nodes[i]) for i in ids if i and i in cmap.nodes]
    return found


class ReclaimWorker:
    name = "reclaim"

    def __init__(
        self,
        queue: GcQueue,
        placement: MapSource,
        nodes: NodePool,
        *,
        batch: int = 500,
        concurrency: int = 8,
        throttle: Throttle | None = None,
    ) -> None:
        self._queue = queue
        self._placement = placement
        self._nodes = nodes
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._throttle = throttle or Throttle(0)

    async def run_pass(self) -> Counter[str]:
        counters: Counter[str] = Counter()
        seen: set[bytes] = set()
        while True:
            items = await self._queue.list_gc_work(self._batch)
            fresh = [i for i in items if i.blob_id not in seen]
            if not fresh:
                break
            seen.update(i.blob_id for i in fresh)
            cmap = await self._placement.cluster_map()
            outcomes = await asyncio.gather(*(self._reclaim(cmap, item, counters) for item in fresh))
            done = [item for item, ok in zip(fresh, outcomes, strict=True) if ok]
            if done:
                await self._queue.ack_gc_work([i.blob_id for i in done])
            for item in done:
                counters["blobs_reclaimed"] += 1
                counters["bytes_reclaimed"] += item.size
                if item.reason is GcReason.INTENT_EXPIRED:
                    counters["intents_reclaimed"] += 1
            counters["blobs_pending"] += len(fresh) - len(done)
            if len(items) < self._batch:
                break
        return counters

    async def _reclaim(self, cmap: ClusterMap, item: GcItem, counters: Counter[str]) -> bool:
        """Delete every placed shard of `item`; True when every node answered."""
        async with self._slots:
            await self._throttle.take()
            calls = [
                self._delete(node.addr, ShardKey(item.blob_id, slot), counters)
                for slot, node in shard_nodes(cmap, item.pg)
            ]
            answered = await asyncio.gather(*calls)
            return all(answered)

    async def _delete(self, addr: str, key: ShardKey, counters: Counter[str]) -> bool:
        try:
            deleted = await self._nodes.client(addr).delete_shards([key])
        except DataNodeUnavailable:
            counters["node_unavailable"] += 1
            return False
        except DataNodeError as exc:
            log.warning("deleting %s on %s failed: %s", key, addr, exc)
            counters["node_errors"] += 1
            return False
        counters["shards_deleted"] += deleted  # after the await: no update is lost
        return True

    async def backlog(self) -> dict[str, int]:
        items = await self._queue.list_gc_work(BACKLOG_LIMIT)
        expired = [i for i in items if i.reason is GcReason.INTENT_EXPIRED]
        return {
            "queued_blobs": len(items) - len(expired),
            "queued_bytes": sum(i.size for i in items),
            "expired_intents": len(expired),
        }
