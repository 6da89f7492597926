"""The repair worker: put every shard metadata references on its slot's target, then end migrations.

A pass:
1. Reads the repair work (`ListRepairWork`): when the operator paused repair it does nothing.
   Otherwise it takes the background-service lease (`AcquireLease`, `lease_ttl_s`) unless it
   holds it, and from then on renews it every third of its TTL, between passes too, until the
   service stops (`close` releases it) or another instance got it. A second instance is refused
   the lease (`LeaseHeld`) and its passes wait (counter `lease_waiting`). Losing the lease, or a
   pause set while the pass runs (looked at once a second), stops the pass between two PGs.
2. Queues every serving data node's scrub findings (`ListScrubFindings`, those of shards the
   node holds as a slot's target or old holder) in the metadata service's repair queue, then
   takes the queue (`ListRepairQueue`: shards a PUT could not write, shards a reader or scrub
   found corrupt or missing). Visits the PGs with queued reports first, then the PGs the map
   lists as needing repair (pending slot moves, slots with shards on a node that is not
   serving), fewest healthy slots first, then every other PG, `PG_LANES` PGs at a time (the
   check for what nothing reported: a node whose disk was wiped and that came back under its
   old id is healthy in the map but lacks its shards). A pass on the timer (`run_timed_pass`)
   takes only its `Sweep` share of those other PGs, so that the timed passes list each of them
   once per `GcConfig.sweep_s` rather than all of them every `repair_interval_s`;
   `cairn admin gc run --once` lists them all. When the queue cannot be read the pass goes on
   without it.
3. Per PG, holding the PG's lock (pg_locks.py: the orphan sweep releases no leftover of the PG
   meanwhile): lists the shards every serving node of the PG holds (targets and old holders,
   `ListShards`), takes the blobs with a live shard somewhere, drops any blob with a tombstone
   on one of them (a delete reached it), asks metadata which of the rest it still knows
   (`FindBlobs`) and drops those waiting in the GC queue: what is left is what metadata
   references. For each such blob, each slot whose serving target lacks the blob's live shard
   gets it: copied from a serving old holder of the slot that lists it live, else rebuilt
   from k other slots' shards (Reed-Solomon reconstruct of the missing pieces, stripe by
   stripe). Every piece read is checked (CRC32C on the wire, its header against its slot and
   stripe by the codec), and the write is verified: the target's answer (length, CRC32C) must
   be the bytes sent. A source that fails is left out and the blob is tried again from the
   others. A reported shard is rewritten on its target even when the target lists it live:
   the data node replaces its copy only when that copy fails its own checksums, answers an
   intact identical copy as already there, refuses different bytes (ShardConflict) and a
   tombstoned key (ShardDeleted). A report is acked (`AckRepairs`) once its shard is on its
   target, verified, or its blob is no longer referenced; otherwise (target down or failing,
   fewer than k sources) it stays queued for the next pass.
4. A slot with a pending move whose target now holds every referenced blob is reported synced
   (`SlotSynced` with the lease's token): its old holders leave the map.

The worker keeps nothing between passes (the reports wait in the metadata service until
acked): the next pass lists again, so a kill -9 of the worker,
the source or the target only costs the shards in flight (a write the target did not finish
stores nothing; a shard already there is an idempotent retry). Throttled: `mb_per_s` of shard
bytes written (0: no limit) and `concurrency` blobs at a time.

Deleted objects stay deleted: a blob gone from metadata, queued for GC or tombstoned on a node
is not rebuilt, and a data node refuses a write of a key it tombstoned (a delete that lands
after our check). Limits: the GC queue is read once per pass (its oldest `GC_QUEUE_LIMIT`
blobs); a blob queued later in the pass may still be written to a target, where the GC's
reclaim deletes it. A blob whose shard a PUT wrote to an old holder after this pass listed it
is on a node that leaves the slot's holders once the slot syncs; the next pass rebuilds it on
the target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cairn.checksums import crc32c
from cairn.datanode.client import DataNodeError, ShardInfo, ShardKey, ShardState
from cairn.erasure import HEADER_LEN, ErasureCodec, ErasureError, StripeLayout, parse_piece_header
from cairn.gc.lease import ServiceLease
from cairn.gc.nodes import NodePool
from cairn.gc.pg_locks import PgLocks
from cairn.gc.worker import Sweep, Throttle
from cairn.metadata.models import GcItem, RepairItem, RepairReport
from cairn.placement.cluster_map import (
    SERVING_STATES,
    ClusterMap,
    LeaseGrant,
    NodeInfo,
    RepairWork,
)
from cairn.placement.errors import PlacementError, StaleMigration

log = logging.getLogger("cairn.gc")

PAGE = 1000
#: GC-queue entries read per pass to keep queued blobs from being rebuilt.
GC_QUEUE_LIMIT = 10_000
#: Pieces (one per stripe) read per source and window while copying or rebuilding a shard.
WINDOW_PIECES = 8
#: PGs visited at the same time (their blobs share the `concurrency` limit).
PG_LANES = 4
#: Seconds between two looks at the pause flag during a pass.
PAUSE_CHECK_S = 1.0
#: FindBlobs asks about at most this many blobs per call.
FIND_BATCH = 1000
#: Repair-queue items taken per pass (the rest wait for the next pass).
REPORTS_LIMIT = 10_000


class RepairMap(Protocol):
    async def cluster_map(self, min_epoch: int = 0, wait_s: float = 0.0) -> ClusterMap: ...

    async def repair_work(self, limit: int = 0, timeout: float = 5.0) -> RepairWork: ...

    async def acquire_lease(self, holder: str, ttl_s: float, timeout: float = 5.0) -> LeaseGrant: ...

    async def release_lease(self, holder: str, token: int, timeout: float = 5.0) -> None: ...

    async def slot_synced(
        self, pg: int, slot: int, node_id: str, since_epoch: int, lease_token: int, timeout: float = 5.0
    ) -> int: ...


class RepairCatalog(Protocol):
    async def find_blobs(self, blob_ids: Sequence[bytes]) -> tuple[bytes, ...]: ...

    async def list_gc_work(self, limit: int = 1000) -> tuple[GcItem, ...]: ...

    async def queue_repairs(self, reports: Sequence[RepairReport]) -> int: ...

    async def list_repair_queue(self, limit: int = 1000) -> tuple[RepairItem, ...]: ...

    async def ack_repairs(self, ids: Sequence[int]) -> int: ...


class SourceFailed(Exception):
    """A source shard could not be read or did not verify (the blob is retried without it)."""

    def __init__(self, node_id: str, index: int, cause: BaseException) -> None:
        super().__init__(f"{node_id} shard {index}: {type(cause).__name__}: {cause}")
        self.node_id = node_id
        self.index = index


class TargetFailed(Exception):
    """The target refused the shard, failed, or stored bytes other than those sent."""


@dataclass(slots=True)
class _PgListing:
    """What the serving nodes of one PG hold: per node, per key, the shard's index entry."""

    shards: dict[str, dict[ShardKey, ShardInfo]] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)

    def live(self, node_id: str, key: ShardKey) -> ShardInfo | None:
        info = self.shards.get(node_id, {}).get(key)
        return info if info is not None and info.state is ShardState.LIVE else None


@dataclass(slots=True)
class Progress:
    """The running pass as `cairn admin repair status` shows it (kept in memory)."""

    running: bool = False
    started_s: float = 0.0
    pgs_total: int = 0
    pgs_done: int = 0
    shards_to_go: int = 0
    bytes_to_go: int = 0
    shards_done: int = 0
    bytes_done: int = 0


class RepairWorker:
    name = "repair"

    def __init__(
        self,
        placement: RepairMap,
        catalog: RepairCatalog,
        nodes: NodePool,
        *,
        holder: str,
        lease_ttl_s: float = 30.0,
        concurrency: int = 4,
        mb_per_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        lease: ServiceLease | None = None,
        pg_locks: PgLocks | None = None,
        sweep: Sweep | None = None,
    ) -> None:
        self._placement = placement
        self._pg_locks = pg_locks or PgLocks()
        self._sweep = sweep or Sweep(1.0, 0.0)
        self._catalog = catalog
        self._nodes = nodes
        self.holder = holder
        self.lease_ttl_s = lease_ttl_s
        self._slots = asyncio.Semaphore(concurrency)
        self._throttle = Throttle(mb_per_s * (1 << 20))
        self._clock = clock
        self._codecs: dict[tuple[int, int], ErasureCodec] = {}
        self.progress = Progress()
        self._lease = lease or ServiceLease(placement, holder, lease_ttl_s)

    # -- a pass ----------------------------------------------------------------------------------

    async def run_pass(self) -> Counter[str]:
        """The PGs with reports or placement work, then every other PG."""
        return await self._run(None)

    async def run_timed_pass(self) -> Counter[str]:
        """The PGs with reports or placement work, then the sweep's share of the others."""
        return await self._run(self._sweep)

    async def _run(self, sweep: Sweep | None) -> Counter[str]:
        counters: Counter[str] = Counter()
        work = await self._placement.repair_work()
        if work.paused:
            counters["paused"] = 1
            return counters
        token = await self._take_lease()
        if token is None:
            counters["lease_waiting"] = 1
            return counters
        self.progress = Progress(running=True, started_s=self._clock())
        try:
            cmap = await self._placement.cluster_map(min_epoch=work.epoch)
            queued = {item.blob_id for item in await self._catalog.list_gc_work(GC_QUEUE_LIMIT)}
            reports = await self._take_reports(cmap, counters)
            first = sorted(reports) + [p.pg for p in work.pgs if p.pg not in reports]
            listed = set(first)
            others = range(cmap.pg_count) if sweep is None else sweep.take(cmap.pg_count)
            order = first + [pg for pg in others if pg not in listed]
            self.progress.pgs_total = len(order)
            pending = iter(order)
            checked = {"at": self._clock()}

            async def go_on() -> bool:
                """False once the lease is lost or repair paused (asked at most once a second)."""
                if self._lease.token != token:
                    counters["lease_lost"] = 1
                    return False
                if "paused" in counters:
                    return False
                if self._clock() - checked["at"] >= PAUSE_CHECK_S:
                    checked["at"] = self._clock()
                    if (await self._placement.repair_work(limit=1)).paused:
                        counters["paused"] = 1
                        return False
                return True

            async def lane() -> None:
                for pg in pending:
                    if not await go_on():
                        return
                    async with self._pg_locks.hold(pg):  # no leftover released meanwhile
                        await self._repair_pg(cmap, pg, queued, token, counters, reports.get(pg, []))
                    self.progress.pgs_done += 1

            await asyncio.gather(*(lane() for _ in range(PG_LANES)))
        finally:
            self.progress.running = False
        return counters

    async def _take_lease(self) -> int | None:
        """The service lease's token (gc/lease.py); None while another instance holds it."""
        return await self._lease.acquire()

    async def close(self) -> None:
        """Give the lease up, so another instance can take over at once."""
        await self._lease.close()

    async def _take_reports(self, cmap: ClusterMap, counters: Counter[str]) -> dict[int, list[RepairItem]]:
        """The repair queue by PG, after queueing the data nodes' scrub findings. When the
        metadata service cannot be reached for it, the pass goes on with its periodic check."""
        reports: dict[int, list[RepairItem]] = defaultdict(list)
        try:
            await self._collect_scrub_findings(cmap, counters)
            for item in await self._catalog.list_repair_queue(REPORTS_LIMIT):
                reports[cmap.pg_of(item.report.blob_id)].append(item)
        except Exception as exc:  # noqa: BLE001 - the periodic check still runs
            log.warning("the repair queue could not be read: %s", exc)
            counters["reports_unavailable"] += 1
        if reports:
            counters["reports_taken"] += sum(len(r) for r in reports.values())
        return reports

    async def _collect_scrub_findings(self, cmap: ClusterMap, counters: Counter[str]) -> None:
        """Queue every serving node's current scrub findings (`ListScrubFindings`) for repair:
        those of shards the node holds as the slot's target or old holder (a leftover of an
        earlier map is the orphan sweep's). A node that does not answer is asked next pass (its
        findings stay listed until the shard is rewritten)."""

        async def one(node: NodeInfo) -> list[RepairReport]:
            found: list[RepairReport] = []
            after: ShardKey | None = None
            try:
                while True:
                    page, after = await self._nodes.client(node.addr).scrub_findings(after, PAGE)
                    for f in page:
                        pg, index = cmap.pg_of(f.key.blob_id), f.key.index
                        if index < len(cmap.pgs[pg]) and (
                            cmap.pgs[pg][index] == node.id or node.id in cmap.holders_of(pg, index)
                        ):
                            found.append(
                                RepairReport(f.key.blob_id, index, pg, str(f.kind), "scrub", node.id)
                            )
                    if after is None:
                        return found
            except DataNodeError as exc:
                log.warning("scrub findings of %s: %s", node.id, exc)
                counters["nodes_unavailable"] += 1
                return found

        serving = [n for n in cmap.nodes.values() if n.state in SERVING_STATES]
        found = [r for rs in await asyncio.gather(*(one(n) for n in serving)) for r in rs]
        for i in range(0, len(found), FIND_BATCH):
            await self._catalog.queue_repairs(found[i : i + FIND_BATCH])
        if found:
            counters["scrub_findings"] += len(found)

    # -- one PG ----------------------------------------------------------------------------------

    async def _repair_pg(
        self,
        cmap: ClusterMap,
        pg: int,
        queued: set[bytes],
        token: int,
        counters: Counter[str],
        reports: Sequence[RepairItem] = (),
    ) -> None:
        width = cmap.k + cmap.m
        targets = [cmap.nodes.get(t) if t else None for t in cmap.pgs[pg]]
        involved: dict[str, NodeInfo] = {}
        for slot in range(width):
            ids = list(cmap.holders_of(pg, slot))
            if cmap.pgs[pg][slot]:
                ids.append(cmap.pgs[pg][slot])
            for node_id in ids:
                node = cmap.nodes.get(node_id)
                if node is not None and node.state in SERVING_STATES:
                    involved[node_id] = node
        listing = await self._list(pg, involved, counters)
        live: set[bytes] = set()
        dead: set[bytes] = set()
        for shards in listing.shards.values():
            for info in shards.values():
                (live if info.state is ShardState.LIVE else dead).add(info.key.blob_id)
        candidates = sorted(live - dead - queued)
        referenced: list[bytes] = []
        for i in range(0, len(candidates), FIND_BATCH):  # none for an empty PG: no call
            referenced.extend(await self._catalog.find_blobs(candidates[i : i + FIND_BATCH]))
        counters["blobs_checked"] += len(referenced)
        # reported shards are rewritten even where their target lists them live (a corrupt copy:
        # the target replaces it only if its own copy fails its checksums, data node store.py)
        suspects = {(r.report.blob_id, r.report.index) for r in reports}

        # per blob, the slots whose serving target lacks its live shard
        plans: list[tuple[bytes, list[int]]] = []
        blocked: set[int] = set()  # slots that cannot be completed this pass
        for slot, target in enumerate(targets):
            if target is None or target.state not in SERVING_STATES or target.id in listing.unreachable:
                blocked.add(slot)
        for blob_id in referenced:
            missing = [
                slot
                for slot, target in enumerate(targets)
                if slot not in blocked
                and target is not None
                and (listing.live(target.id, ShardKey(blob_id, slot)) is None or (blob_id, slot) in suspects)
            ]
            if missing:
                plans.append((blob_id, missing))
        to_go = sum(len(m) for _, m in plans)
        self.progress.shards_to_go += to_go
        self.progress.bytes_to_go += sum(
            self._shard_length(listing, blob_id) * len(missing) for blob_id, missing in plans
        )
        outcomes = await asyncio.gather(
            *(self._repair_blob(cmap, pg, blob_id, missing, listing, counters) for blob_id, missing in plans)
        )
        repaired: dict[bytes, set[int]] = {}
        for (blob_id, missing), done in zip(plans, outcomes, strict=True):
            blocked.update(set(missing) - done)
            repaired[blob_id] = done
        if reports:
            await self._ack_reports(
                pg, width, reports, dead | queued, set(candidates), set(referenced), repaired, counters
            )

        for slot, mig in sorted(cmap.migrations.get(pg, {}).items()):
            if slot in blocked:
                counters["slots_waiting"] += 1
                continue
            try:
                await self._placement.slot_synced(pg, slot, cmap.pgs[pg][slot], mig.since_epoch, token)
            except StaleMigration:
                counters["slots_stale"] += 1  # the map moved on: the next pass sees the new move
            except PlacementError as exc:
                log.warning("pg %d slot %d: SlotSynced refused: %s", pg, slot, exc)
                counters["slots_refused"] += 1
            else:
                counters["slots_synced"] += 1

    async def _ack_reports(
        self,
        pg: int,
        width: int,
        reports: Sequence[RepairItem],
        gone: set[bytes],
        candidates: set[bytes],
        referenced: set[bytes],
        repaired: dict[bytes, set[int]],
        counters: Counter[str],
    ) -> None:
        """Ack the PG's queued reports whose shard is now on its target, verified, and those of
        blobs no longer referenced (deleted, queued for GC, tombstoned somewhere); the others
        (a target down or failing, no k sources) stay queued for the next pass."""
        unlisted = sorted({r.report.blob_id for r in reports} - candidates - gone)
        known = referenced | set(await self._catalog.find_blobs(unlisted) if unlisted else ())
        acks: list[int] = []
        for item in reports:
            blob_id, slot = item.report.blob_id, item.report.index
            if blob_id in gone or blob_id not in known or slot >= width:
                counters["reports_unreferenced"] += 1
                acks.append(item.id)
            elif slot in repaired.get(blob_id, ()):
                counters["reports_repaired"] += 1
                acks.append(item.id)
            else:
                counters["reports_kept"] += 1
        if acks:
            try:
                counters["reports_acked"] += await self._catalog.ack_repairs(acks)
            except Exception as exc:  # noqa: BLE001 - unacked reports are simply taken again
                log.warning("pg %d: acking %d repair reports failed: %s", pg, len(acks), exc)

    async def _list(self, pg: int, nodes: dict[str, NodeInfo], counters: Counter[str]) -> _PgListing:
        listing = _PgListing()

        async def one(node: NodeInfo) -> None:
            found: dict[ShardKey, ShardInfo] = {}
            after: ShardKey | None = None
            try:
                while True:
                    page, after = await self._nodes.client(node.addr).list_shards(pg, after, PAGE)
                    found.update((s.key, s) for s in page)
                    if after is None:
                        break
            except DataNodeError as exc:
                log.warning("pg %d: listing %s failed: %s", pg, node.id, exc)
                counters["nodes_unavailable"] += 1
                listing.unreachable.add(node.id)
                return
            listing.shards[node.id] = found

        await asyncio.gather(*(one(n) for n in nodes.values()))
        return listing

    @staticmethod
    def _shard_length(listing: _PgListing, blob_id: bytes) -> int:
        for shards in listing.shards.values():
            for key, info in shards.items():
                if key.blob_id == blob_id and info.state is ShardState.LIVE:
                    return info.length
        return 0

    # -- one blob --------------------------------------------------------------------------------

    async def _repair_blob(
        self,
        cmap: ClusterMap,
        pg: int,
        blob_id: bytes,
        missing: list[int],
        listing: _PgListing,
        counters: Counter[str],
    ) -> set[int]:
        """Put the blob's shards of `missing` slots on their targets; returns the slots done."""
        done: set[int] = set()
        excluded: set[tuple[str, int]] = set()
        async with self._slots:
            # copies first: a serving old holder of the slot with the shard live
            rebuild: list[int] = []
            for slot in missing:
                copied = False
                for holder_id in cmap.holders_of(pg, slot):
                    holder = cmap.nodes.get(holder_id)
                    key = ShardKey(blob_id, slot)
                    if (
                        holder is None
                        or holder_id == cmap.pgs[pg][slot]
                        or listing.live(holder_id, key) is None
                    ):
                        continue
                    info = listing.live(holder_id, key)
                    assert info is not None
                    try:
                        await self._transfer(
                            cmap, pg, blob_id, info.length, {slot: (holder, slot)}, [slot], copy=True
                        )
                    except SourceFailed as exc:
                        log.warning("pg %d blob %s: copy failed: %s", pg, blob_id.hex(), exc)
                        counters["sources_failed"] += 1
                        continue
                    except TargetFailed as exc:
                        log.warning("pg %d blob %s: %s", pg, blob_id.hex(), exc)
                        counters["targets_failed"] += 1
                        break
                    copied = True
                    counters["shards_copied"] += 1
                    counters["bytes_copied"] += info.length
                    self._progressed(info.length)
                    done.add(slot)
                    break
                if not copied:
                    rebuild.append(slot)
            rebuild = [s for s in rebuild if s not in done]
            while rebuild:
                sources = self._rebuild_sources(cmap, pg, blob_id, rebuild, listing, excluded)
                if sources is None:
                    counters["blobs_unrecoverable"] += 1
                    log.warning(
                        "pg %d blob %s: fewer than k verified shards to rebuild from", pg, blob_id.hex()
                    )
                    break
                length = next(iter(sources.values()))[2]
                try:
                    ok = await self._transfer(
                        cmap, pg, blob_id, length, {i: (n, i) for i, (n, _, _) in sources.items()}, rebuild
                    )
                except SourceFailed as exc:
                    log.warning("pg %d blob %s: rebuild source failed: %s", pg, blob_id.hex(), exc)
                    counters["sources_failed"] += 1
                    excluded.add((exc.node_id, exc.index))
                    continue
                except TargetFailed as exc:
                    log.warning("pg %d blob %s: %s", pg, blob_id.hex(), exc)
                    counters["targets_failed"] += 1
                    break
                for _slot in ok:
                    counters["shards_rebuilt"] += 1
                    counters["bytes_rebuilt"] += length
                    self._progressed(length)
                done.update(ok)
                break
        return done

    def _progressed(self, nbytes: int) -> None:
        self.progress.shards_done += 1
        self.progress.bytes_done += nbytes

    def _rebuild_sources(
        self,
        cmap: ClusterMap,
        pg: int,
        blob_id: bytes,
        rebuild: list[int],
        listing: _PgListing,
        excluded: set[tuple[str, int]],
    ) -> dict[int, tuple[NodeInfo, int, int]] | None:
        """k slots other than `rebuild`, each with a serving node listing the shard live:
        index -> (node, index, shard length); None when fewer than k are available."""
        found: dict[int, tuple[NodeInfo, int, int]] = {}
        for index in range(cmap.k + cmap.m):
            if index in rebuild:
                continue
            ids = list(cmap.holders_of(pg, index))
            if cmap.pgs[pg][index] and cmap.pgs[pg][index] not in ids:
                ids.append(cmap.pgs[pg][index])
            for node_id in ids:
                node = cmap.nodes.get(node_id)
                info = listing.live(node_id, ShardKey(blob_id, index))
                if node is None or info is None or (node_id, index) in excluded:
                    continue
                found[index] = (node, index, info.length)
                break
            if len(found) == cmap.k:
                return found
        return None

    def _codec(self, cmap: ClusterMap) -> ErasureCodec:
        key = (cmap.k, cmap.m)
        codec = self._codecs.get(key)
        if codec is None:
            codec = self._codecs[key] = ErasureCodec(StripeLayout(k=cmap.k, m=cmap.m))
        return codec

    async def _transfer(
        self,
        cmap: ClusterMap,
        pg: int,
        blob_id: bytes,
        length: int,
        sources: dict[int, tuple[NodeInfo, int]],
        outputs: list[int],
        *,
        copy: bool = False,
    ) -> set[int]:
        """Read `sources` (index -> (node, shard index)) window by window and write shards
        `outputs` to their targets: the source's pieces as they are when `copy`, else the
        pieces reconstructed from the k sources. Every piece read is checked against its slot;
        every write's (length, CRC32C) must match what was sent. Returns the outputs written."""
        codec = self._codec(cmap)
        first_node, first_index = next(iter(sources.values()))
        piece_len = await self._piece_len(first_node, ShardKey(blob_id, first_index), length)
        queues: dict[int, asyncio.Queue[bytes | None]] = {i: asyncio.Queue(maxsize=2) for i in outputs}
        writers = {
            i: asyncio.create_task(self._write(cmap, pg, ShardKey(blob_id, i), length, queues[i]))
            for i in outputs
        }
        try:
            offset = 0
            while offset < length or (offset == 0 and length == 0):
                end = min(length, offset + WINDOW_PIECES * piece_len) if piece_len else length
                windows = await asyncio.gather(
                    *(
                        self._read_range(node, ShardKey(blob_id, idx), offset, end)
                        for node, idx in sources.values()
                    )
                )
                per_source = {
                    index: _cut(data, piece_len) for index, data in zip(sources, windows, strict=True)
                }
                if copy:
                    ((index, pieces),) = per_source.items()
                    node = sources[index][0]
                    for piece in pieces:
                        _check(codec, node.id, index, piece)
                    out = {outputs[0]: b"".join(pieces)}
                else:
                    out = await asyncio.to_thread(_reconstruct, codec, per_source, outputs, sources)
                for index, data in out.items():
                    await self._throttle.take(len(data))
                    await _put(queues[index], writers[index], data)
                if end == offset:
                    break
                offset = end
            for index in outputs:
                await _put(queues[index], writers[index], None)
            results = await asyncio.gather(*writers.values(), return_exceptions=True)
        finally:
            for task in writers.values():
                task.cancel()
        done: set[int] = set()
        failures = []
        for index, result in zip(writers, results, strict=True):
            if isinstance(result, BaseException):
                failures.append(f"slot {index}: {result}")
            else:
                done.add(index)
        if failures and not done:
            raise TargetFailed("; ".join(failures))
        for failure in failures:
            log.warning("pg %d blob %s: write failed: %s", pg, blob_id.hex(), failure)
        return done

    async def _piece_len(self, node: NodeInfo, key: ShardKey, length: int) -> int:
        """The length of the shard's pieces of full stripes (its first piece's)."""
        if length == 0:
            return 0
        header = await self._read_range(node, key, 0, min(HEADER_LEN, length))
        try:
            payload, _ = parse_piece_header(header)
        except ErasureError as exc:
            raise SourceFailed(node.id, key.index, exc) from exc
        return HEADER_LEN + payload

    async def _read_range(self, node: NodeInfo, key: ShardKey, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        parts: list[bytes] = []
        try:
            async for chunk in self._nodes.client(node.addr).read_shard(key, start, end - start):
                parts.append(chunk)
        except DataNodeError as exc:
            raise SourceFailed(node.id, key.index, exc) from exc
        data = b"".join(parts)
        if len(data) != end - start:
            raise SourceFailed(node.id, key.index, ValueError(f"read {len(data)} of {end - start} bytes"))
        return data

    async def _write(
        self, cmap: ClusterMap, pg: int, key: ShardKey, length: int, queue: asyncio.Queue[bytes | None]
    ) -> None:
        target = cmap.nodes[cmap.pgs[pg][key.index]]
        sent = {"length": 0, "crc": 0}

        async def pieces() -> AsyncIterator[bytes]:
            while (data := await queue.get()) is not None:
                sent["crc"] = crc32c(data, sent["crc"])
                sent["length"] += len(data)
                yield data

        try:
            info = await self._nodes.client(target.addr).write_shard(key, pg, pieces())
        except DataNodeError as exc:
            raise TargetFailed(f"{target.id}: {type(exc).__name__}: {exc}") from exc
        if (info.length, info.crc32c) != (sent["length"], sent["crc"]) or info.length != length:
            raise TargetFailed(
                f"{target.id} stored {key} as {info.length} bytes crc {info.crc32c:#x}, "
                f"sent {sent['length']} bytes crc {sent['crc']:#x} of {length}"
            )

    # -- status ----------------------------------------------------------------------------------

    async def backlog(self) -> dict[str, int]:
        work = await self._placement.repair_work()
        out: dict[str, int] = defaultdict(int)
        out["pgs_needing_repair"] = len(work.pgs)
        out["slots_to_repair"] = sum(len(p.slots) for p in work.pgs)
        out["paused"] = int(work.paused)
        for p in work.pgs:
            out[f"pgs_failures_tolerated_{p.failures_tolerated}"] += 1
        with contextlib.suppress(Exception):  # the metadata service unreachable: not shown
            out["reports_queued"] = len(await self._catalog.list_repair_queue(REPORTS_LIMIT))
        progress = self.progress
        if progress.running:
            # shards found missing in the PGs visited so far in the running pass, and done
            out["pass_pgs_total"] = progress.pgs_total
            out["pass_pgs_done"] = progress.pgs_done
            out["pass_shards_found"] = progress.shards_to_go
            out["pass_bytes_found"] = progress.bytes_to_go
            out["pass_shards_done"] = progress.shards_done
            out["pass_bytes_done"] = progress.bytes_done
            out["pass_elapsed_ms"] = int(1000 * (self._clock() - progress.started_s))
        return dict(out)


async def _put(queue: asyncio.Queue[bytes | None], writer: asyncio.Task[None], item: bytes | None) -> None:
    """Hand `item` to a writer, unless it already ended (failed): its error is collected later."""
    if writer.done():
        return
    put = asyncio.ensure_future(queue.put(item))
    await asyncio.wait({put, writer}, return_when=asyncio.FIRST_COMPLETED)
    if not put.done():
        put.cancel()


def _cut(data: bytes, piece_len: int) -> list[bytes]:
    """A window of a shard cut into its pieces (the last one of the shard may be shorter)."""
    if not piece_len:
        return [data]
    return [data[i : i + piece_len] for i in range(0, len(data), piece_len)]


def _check(codec: ErasureCodec, node_id: str, index: int, piece: bytes) -> None:
    try:
        _, stripe_len = parse_piece_header(piece)
        codec.check_piece(index, piece, stripe_len)
    except ErasureError as exc:
        raise SourceFailed(node_id, index, exc) from exc


def _reconstruct(
    codec: ErasureCodec,
    per_source: dict[int, list[bytes]],
    outputs: list[int],
    sources: dict[int, tuple[NodeInfo, int]],
) -> dict[int, bytes]:
    """The missing slots' bytes of one window from the k sources' pieces, stripe by stripe."""
    counts = {len(p) for p in per_source.values()}
    if len(counts) != 1:
        raise SourceFailed(
            next(iter(sources.values()))[0].id, next(iter(sources)), ValueError("uneven windows")
        )
    out: dict[int, list[bytes]] = {i: [] for i in outputs}
    for stripe in range(counts.pop()):
        pieces = {index: p[stripe] for index, p in per_source.items()}
        for index, piece in pieces.items():
            _check(codec, sources[index][0].id, index, piece)
        try:
            rebuilt = codec.reconstruct(pieces, outputs)
        except ErasureError as exc:
            node, index = next(iter(sources.values()))
            raise SourceFailed(node.id, index, exc) from exc
        for index in outputs:
            out[index].append(rebuilt[index])
    return {i: b"".join(parts) for i, parts in out.items()}
