"""The timed passes of the repair worker and the orphan sweep list a share of the placement
groups in turn (`Sweep`), besides those with work; `run_pass` (`cairn admin gc run --once`)
lists every one. A shard lost without a report is rebuilt by the timed pass whose share holds
its PG. An orphan candidate of a PG a timed pass did not list keeps its first sighting, so it is
deleted once the sweep comes back to its PG after the grace."""

from __future__ import annotations

import os
from collections.abc import Sequence

from cairn.datanode.shards import ShardInfo, ShardKey
from cairn.erasure import encode_blob
from cairn.gc.orphans import OrphanSweepWorker
from cairn.gc.repair import RepairWorker
from cairn.gc.worker import Sweep
from cairn.placement.cluster_map import ClusterMap, NodeInfo, NodeState, PgWork, RepairWork
from tests.unit.gc.test_leftovers import Catalog as OrphanCatalog
from tests.unit.gc.test_leftovers import Clock
from tests.unit.gc.test_repair_worker import CODEC, Catalog, FakeNode, Placement, Pool

PGS = 6


class PgNode(FakeNode):
    """An in-memory data node (test_repair_worker) that lists each shard in its blob's PG only and
    records which PGs were listed."""

    def __init__(self, cmap: ClusterMap) -> None:
        super().__init__()
        self.cmap = cmap
        self.listed: list[int] = []
        self.deleted: list[ShardKey] = []

    async def list_shards(
        self, pg: int, after: ShardKey | None = None, limit: int = 1000, timeout: float = 10.0
    ) -> tuple[list[ShardInfo], ShardKey | None]:
        self.listed.append(pg)
        rows, _ = await super().list_shards(pg, after, limit, timeout)
        return [r for r in rows if self.cmap.pg_of(r.key.blob_id) == pg], None

    async def delete_shards(
        self, keys: Sequence[ShardKey], timeout: float = 10.0, *, release: bool = False
    ) -> int:
        self.deleted.extend(keys)
        for k in keys:
            self.shards.pop(k, None)
        return len(keys)

    def take_listed(self) -> set[int]:
        listed, self.listed = set(self.listed), []
        return listed


def a_map(k: int, m: int) -> ClusterMap:
    ids = [f"n{i:02d}" for i in range(k + m)]
    infos = {i: NodeInfo(i, i, "z", i, i, NodeState.UP, 1 << 40, 0, 0) for i in ids}
    return ClusterMap(6, k, m, PGS, infos, tuple(tuple(ids) for _ in range(PGS)), {})


class Working(Placement):
    """Placement naming PG 4 as needing repair."""

    async def repair_work(self, limit: int = 0, timeout: float = 5.0) -> RepairWork:
        work = await super().repair_work(limit, timeout)
        return RepairWork(work.epoch, work.paused, work.lease, (PgWork(4, 11, 3, ()),))


async def test_timed_repair_passes_list_the_pgs_with_work_and_a_share_of_the_others_in_turn() -> None:
    """...and a node wiped without anyone reporting it gets its shard back on the pass whose
    share holds the blob's PG (PG 2: the second pass), not before."""
    cmap = a_map(8, 4)
    nodes = {n: PgNode(cmap) for n in cmap.nodes}
    blob = blob_in(cmap, 2, 0xE)
    shards = encode_blob(CODEC, os.urandom(100_000))
    for slot, data in enumerate(shards):
        nodes[cmap.pgs[2][slot]].shards[ShardKey(blob, slot)] = data
    wiped = cmap.pgs[2][7]
    nodes[wiped].shards.clear()
    sweep = Sweep(interval_s=1, sweep_s=3, wall=lambda: 0.0)  # 2 of the 6 PGs a pass, from PG 0
    worker = RepairWorker(Working(cmap), Catalog({blob}, set()), Pool(nodes), holder="me", sweep=sweep)  # type: ignore[arg-type]

    def listed() -> set[int]:
        """The PGs the pass listed, the same on every node (every node holds a slot of each)."""
        (pgs,) = {frozenset(n.take_listed()) for n in nodes.values()}
        return set(pgs)

    try:
        timed, rebuilt = [], []
        for _ in range(4):
            await worker.run_timed_pass()
            timed.append(listed())
            rebuilt.append(nodes[wiped].shards.get(ShardKey(blob, 7)) == shards[7])
        await worker.run_pass()
        whole = listed()
    finally:
        await worker.close()
    assert timed == [{4, 0, 1}, {4, 2, 3}, {4, 5}, {4, 0, 1}]
    assert rebuilt == [False, True, True, True]
    assert whole == set(range(PGS))


def blob_in(cmap: ClusterMap, pg: int, tag: int) -> bytes:
    """A blob id of PG `pg`."""
    return next(b for i in range(10_000) if cmap.pg_of(b := bytes([tag, i % 256, i // 256]) * 5 + b"x") == pg)


async def test_an_orphan_keeps_its_first_sighting_while_the_sweep_lists_other_pgs() -> None:
    cmap = a_map(2, 1)
    nodes = {n: PgNode(cmap) for n in cmap.nodes}
    orphan = ShardKey(blob_in(cmap, 0, 0xA), 0)  # metadata does not know its blob
    kept = ShardKey(blob_in(cmap, 0, 0xB), 0)
    nodes["n00"].shards.update({orphan: b"o" * 100, kept: b"k" * 100})
    catalog, clock = OrphanCatalog({kept.blob_id}), Clock()  # metadata knows `kept` only

    class Maps:
        async def cluster_map(self, min_epoch: int = 0, wait_s: float = 0.0) -> ClusterMap:
            return cmap

    worker = OrphanSweepWorker(
        catalog,
        Maps(),
        Pool(nodes),  # type: ignore[arg-type]
        grace_s=10,
        clock=clock,
        sweep=Sweep(interval_s=1, sweep_s=PGS, wall=lambda: 0.0),
    )
    listed, found = [], []
    for _ in range(PGS + 1):  # PG 0 first, then each of the others, then PG 0 again
        counters = await worker.run_timed_pass()
        listed.append(nodes["n00"].take_listed())
        found.append((counters.get("orphans_found", 0), counters.get("orphans_deleted", 0)))
        clock.now += 5  # the grace (10 s) runs out while the sweep lists the other PGs
    assert listed == [{pg} for pg in range(PGS)] + [{0}]
    assert found[0] == (1, 0) and found[1:PGS] == [(0, 0)] * (PGS - 1)
    assert found[PGS][1] == 1 and nodes["n00"].deleted == [orphan]  # the sighting at t=0 counted
    assert set(nodes["n00"].shards) == {kept}
