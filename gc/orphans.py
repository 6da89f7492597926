"""The orphan sweep: shards a data node holds that metadata does not know are deleted after a grace.

A pass lists, for every node of the cluster map and every placement group, the node's shards
of that PG page by page (ListShards), and asks metadata which of the live ones' blobs it
still knows (FindBlobs: a version, an open upload's part, a write intent, the GC queue). An
unknown shard is an orphan *candidate*: it is deleted only once it has been seen unknown for
`grace_s` (the first sighting is remembered in memory, so a restarted service starts every
grace again). The API records a write intent before it sends any shard, so a PUT in flight
is always known; the grace covers writers that record their intent afterwards (the metadata
bulk load) and is the margin against any other order.

A pass on the timer (`run_timed_pass`) lists only its `Sweep` share of the PGs (every PG once
per `GcConfig.sweep_s`); `cairn admin gc run --once` lists them all. A candidate of a PG the pass
did not list keeps its first sighting.

Throttled: at most `orphan_shards_per_s` shards deleted per second (0: no limit). A pass cut
short (the service killed) leaves the rest for the next passes, after the grace again.

*Leftovers*: a live shard (blob, i) of a blob metadata knows, on a node the map names neither as
the target of slot i of its PG nor as a holder of that slot while it moves: a copy left on a
node that gave the slot up (growth, drain, a node declared `out` whose slots were rebuilt
elsewhere and that came back). Seen as such for `grace_s`, it is released only when the slot's
target, serving, lists the same shard live with the same length and CRC32C (a verified copy is
where readers look); the sweep then re-reads the map under the PG's lock (gc/pg_locks.py: repair
holds it while it works on the PG), checks the node is still not named for the slot and the
target unchanged, and gives the copy up (`DeleteShards` with `release`: gone from the PG, but the
key stays writable, so the node can take the slot again). A leftover without that verified copy
is kept: when the slot is not moving and its target answered without the shard, the shard is
queued for repair (`QueueRepairs`, source `leftover`), which rebuilds it on the target; a
mismatching copy, a target that is down, or a slot still moving keeps it too (a later pass looks
again). A leftover of a blob being deleted (in the GC queue's oldest `GC_QUEUE_LIMIT` entries,
read once per pass, or tombstoned on the slot's target) is deleted like an orphan (metadata still
knows the blob while it waits in the queue; a tombstone: repair takes the blob for deleted too).

Memory: the candidates only; the listing is streamed page by page, so a node with millions of
shards costs one page at a time (a leftover page adds its targets' listings of the same key
range).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cairn.datanode.client import DataNodeError, DataNodeUnavailable, ShardInfo, ShardKey, ShardState
from cairn.gc.nodes import NodePool
from cairn.gc.pg_locks import PgLocks
from cairn.gc.reclaim import MapSource
from cairn.gc.repair import GC_QUEUE_LIMIT
from cairn.gc.worker import Sweep, Throttle
from cairn.metadata.models import GcItem, RepairReport
from cairn.placement.cluster_map import SERVING_STATES, ClusterMap, NodeInfo

log = logging.getLogger("cairn.gc")

PAGE = 1000


class BlobCatalog(Protocol):
    async def find_blobs(self, blob_ids: Sequence[bytes]) -> tuple[bytes, ...]: ...

    async def list_gc_work(self, limit: int = 1000) -> tuple[GcItem, ...]: ...

    async def queue_repairs(self, reports: Sequence[RepairReport]) -> int: ...


Sighting = tuple[str, ShardKey]  # (node id, shard key)


@dataclass(frozen=True, slots=True)
class _Page:
    """Where a page of one node's shards was listed: the pass's map, the PG, the node, and the
    pass's sightings and counters."""

    cmap: ClusterMap
    pg: int
    node: NodeInfo
    seen: set[Sighting]
    counters: Counter[str]


def named_for(cmap: ClusterMap, pg: int, slot: int, node_id: str) -> bool:
    """Whether the map names the node for the slot: its target, or a holder while it moves."""
    return cmap.pgs[pg][slot] == node_id or node_id in cmap.holders_of(pg, slot)


def key_before(key: ShardKey) -> ShardKey | None:
    """The greatest key below `key` (a ListShards cursor that starts the page at `key`)."""
    if key.index > 0:
        return ShardKey(key.blob_id, key.index - 1)
    number = int.from_bytes(key.blob_id, "big")
    if number == 0:
        return None
    return ShardKey((number - 1).to_bytes(len(key.blob_id), "big"), 2**32 - 1)


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
        pg_locks: PgLocks | None = None,
        sweep: Sweep | None = None,
    ) -> None:
        self._catalog = catalog
        self._sweep = sweep or Sweep(1.0, 0.0)
        self._placement = placement
        self._nodes = nodes
        self.grace_s = grace_s
        self._clock = clock
        self._throttle = throttle or Throttle(0)
        self._pg_locks = pg_locks or PgLocks()
        self._first_seen: dict[Sighting, float] = {}
        self._leftovers_seen: dict[Sighting, float] = {}
        self._queued: set[bytes] = set()  # the GC queue's blobs, read once per pass

    async def run_pass(self) -> Counter[str]:
        """Every PG of every node."""
        return await self._run(None)

    async def run_timed_pass(self) -> Counter[str]:
        """The sweep's share of the PGs, on every node."""
        return await self._run(self._sweep)

    async def _run(self, sweep: Sweep | None) -> Counter[str]:
        counters: Counter[str] = Counter()
        cmap = await self._placement.cluster_map()
        pgs = list(range(cmap.pg_count)) if sweep is None else sweep.take(cmap.pg_count)
        self._queued = {item.blob_id for item in await self._catalog.list_gc_work(GC_QUEUE_LIMIT)}
        seen: set[Sighting] = set()
        nodes = cmap.nodes.values()
        await asyncio.gather(*(self._sweep_node(cmap, node, pgs, seen, counters) for node in nodes))
        listed = set(pgs)
        for sightings in (self._first_seen, self._leftovers_seen):
            for gone in set(sightings) - seen:  # deleted, released, or no longer one
                if cmap.pg_of(gone[1].blob_id) in listed:  # (the others were not looked at)
                    del sightings[gone]
        return counters

    async def _sweep_node(
        self,
        cmap: ClusterMap,
        node: NodeInfo,
        pgs: Sequence[int],
        seen: set[Sighting],
        counters: Counter[str],
    ) -> None:
        client = self._nodes.client(node.addr)
        try:
            for pg in pgs:
                after: ShardKey | None = None
                while True:
                    shards, after = await client.list_shards(pg, after, PAGE)
                    live = [s for s in shards if s.state is ShardState.LIVE]
                    await self._check(cmap, pg, node, live, seen, counters)
                    if after is None:
                        break
        except DataNodeUnavailable:
            counters["nodes_unavailable"] += 1
            self._keep_sightings(node, seen)  # the node is swept again next pass
        except DataNodeError as exc:
            log.warning("orphan sweep of %s failed: %s", node.id, exc)
            counters["node_errors"] += 1
            self._keep_sightings(node, seen)

    def _keep_sightings(self, node: NodeInfo, seen: set[Sighting]) -> None:
        """A node that did not answer keeps its candidates' first sightings."""
        for sightings in (self._first_seen, self._leftovers_seen):
            seen.update(k for k in sightings if k[0] == node.id)

    def _sighted(
        self,
        sightings: dict[Sighting, float],
        node: NodeInfo,
        shard: ShardInfo,
        seen: set[Sighting],
        now: float,
    ) -> tuple[bool, bool]:
        """Remember a sighting: (first time seen, seen for the grace already)."""
        candidate = (node.id, shard.key)
        seen.add(candidate)
        new = candidate not in sightings
        first = sightings.setdefault(candidate, now)
        return new, now - first >= self.grace_s

    async def _check(
        self,
        cmap: ClusterMap,
        pg: int,
        node: NodeInfo,
        shards: list[ShardInfo],
        seen: set[Sighting],
        counters: Counter[str],
    ) -> None:
        counters["shards_listed"] += len(shards)
        if not shards:
            return
        known = set(await self._catalog.find_blobs(sorted({s.key.blob_id for s in shards})))
        now = self._clock()
        due: list[ShardInfo] = []
        leftovers: list[ShardInfo] = []
        width = len(cmap.pgs[pg]) if pg < len(cmap.pgs) else 0
        for shard in shards:
            if shard.key.blob_id in known:
                if shard.key.index < width and not named_for(cmap, pg, shard.key.index, node.id):
                    new, old_enough = self._sighted(self._leftovers_seen, node, shard, seen, now)
                    if new:
                        counters["leftovers_found"] += 1
                    if old_enough:
                        leftovers.append(shard)
                continue
            new, old_enough = self._sighted(self._first_seen, node, shard, seen, now)
            if new:
                counters["orphans_found"] += 1
            if old_enough:
                due.append(shard)
        if due:
            await self._throttle.take(len(due))
            deleted = await self._nodes.client(node.addr).delete_shards([s.key for s in due])
            counters["orphans_deleted"] += deleted
            counters["orphan_bytes_deleted"] += sum(s.length for s in due)
            for shard in due:
                seen.discard((node.id, shard.key))
        if leftovers:
            await self._leftovers(_Page(cmap, pg, node, seen, counters), leftovers)

    # -- leftovers -------------------------------------------------------------------------------

    async def _leftovers(self, page: _Page, shards: list[ShardInfo]) -> None:
        """Release the leftovers whose slot's target holds a verified copy; queue for repair
        those of a synced slot whose target answered without the shard; keep the rest."""
        cmap, pg, node, seen, counters = page.cmap, page.pg, page.node, page.seen, page.counters
        verified: list[ShardInfo] = []
        deleted: list[ShardInfo] = []  # of a blob being deleted (GC queue, target's tombstone)
        missing: list[RepairReport] = []
        for shard in shards:
            if shard.key.blob_id in self._queued:
                deleted.append(shard)
        shards = [s for s in shards if s.key.blob_id not in self._queued]
        by_target: dict[str, list[ShardInfo]] = defaultdict(list)
        for shard in shards:
            by_target[cmap.pgs[pg][shard.key.index]].append(shard)
        for target_id, held in by_target.items():
            target = cmap.nodes.get(target_id) if target_id else None
            listed = await self._target_listing(target, pg, [s.key for s in held], counters)
            for shard in held:
                copy = listed.get(shard.key) if listed is not None else None
                if copy is not None and copy.state is ShardState.LIVE:
                    if (copy.length, copy.crc32c) == (shard.length, shard.crc32c):
                        verified.append(shard)
                        continue
                    counters["leftovers_mismatched"] += 1  # neither copy is given up
                elif copy is not None:
                    deleted.append(shard)
                    continue
                elif (
                    listed is not None
                    and copy is None
                    and target is not None
                    and shard.key.index not in cmap.migrations.get(pg, {})
                ):
                    missing.append(
                        RepairReport(shard.key.blob_id, shard.key.index, pg, "missing", "leftover", target_id)
                    )
                counters["leftovers_kept"] += 1
        if missing:
            try:
                counters["leftovers_queued_for_repair"] += await self._catalog.queue_repairs(missing)
            except Exception as exc:  # noqa: BLE001 - repair's periodic check finds the shard too
                log.warning("pg %d: queueing %d shards for repair failed: %s", pg, len(missing), exc)
        if deleted:
            await self._throttle.take(len(deleted))
            counters["leftovers_deleted"] += await self._nodes.client(node.addr).delete_shards(
                [s.key for s in deleted]
            )
            seen.difference_update((node.id, s.key) for s in deleted)
        if verified:
            await self._release(page, verified)

    async def _target_listing(
        self, target: NodeInfo | None, pg: int, keys: list[ShardKey], counters: Counter[str]
    ) -> dict[ShardKey, ShardInfo] | None:
        """The target's entries of `keys` (listed over the keys' range); None when the target is
        missing, not serving or did not answer."""
        if target is None or target.state not in SERVING_STATES:
            return None
        wanted, last = set(keys), max(keys)
        found: dict[ShardKey, ShardInfo] = {}
        after = key_before(min(keys))
        client = self._nodes.client(target.addr)
        try:
            while True:
                page, after = await client.list_shards(pg, after, PAGE)
                for info in page:
                    if info.key > last:
                        return found
                    if info.key in wanted:
                        found[info.key] = info
                if after is None:
                    return found
        except DataNodeError as exc:
            log.warning("leftovers of pg %d: listing the target %s failed: %s", pg, target.id, exc)
            counters["targets_unavailable"] += 1
            return None

    async def _release(self, page: _Page, shards: list[ShardInfo]) -> None:
        """Give the verified leftovers up, under the PG's lock and on the newest map: only those
        whose node is still not named for the slot, and whose slot's target did not change."""
        cmap, pg, node, seen, counters = page.cmap, page.pg, page.node, page.seen, page.counters
        async with self._pg_locks.hold(pg):
            fresh = await self._placement.cluster_map()
            go = [
                s
                for s in shards
                if pg < len(fresh.pgs)
                and fresh.pgs[pg][s.key.index] == cmap.pgs[pg][s.key.index]
                and not named_for(fresh, pg, s.key.index, node.id)
            ]
            counters["leftovers_kept"] += len(shards) - len(go)
            if not go:
                return
            await self._throttle.take(len(go))
            released = await self._nodes.client(node.addr).delete_shards([s.key for s in go], release=True)
        counters["leftovers_released"] += released
        counters["leftover_bytes_released"] += sum(s.length for s in go)
        for shard in go:
            seen.discard((node.id, shard.key))

    async def backlog(self) -> dict[str, int]:
        return {"orphan_candidates": len(self._first_seen), "leftover_candidates": len(self._leftovers_seen)}
