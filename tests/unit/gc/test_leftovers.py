"""The orphan sweep's leftovers: copies of live blobs on nodes the map no longer names for their
slot. Released (never tombstoned) after the grace only when the slot's target lists the same
shard live with the same length and CRC32C, and only if the newest map, read under the PG's
lock, still does not name the node; otherwise kept, and queued for repair when the synced
slot's target answered without it. A moving slot's old holder is not a leftover."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from cairn.checksums import crc32c
from cairn.datanode.errors import DataNodeUnavailable
from cairn.datanode.shards import ShardInfo, ShardKey, ShardState
from cairn.gc import orphans
from cairn.gc.orphans import OrphanSweepWorker, key_before
from cairn.gc.pg_locks import PgLocks
from cairn.metadata.models import GcItem, GcReason, RepairReport
from cairn.placement.cluster_map import ClusterMap, NodeInfo, NodeState, SlotMigration

A, B, C, D = (bytes([i]) * 16 for i in (0xA, 0xB, 0xC, 0xD))


class FakeNode:
    """A data node's shards as ListShards and DeleteShards see them (one PG)."""

    def __init__(self) -> None:
        self.shards: dict[ShardKey, bytes] = {}
        self.dead: set[ShardKey] = set()  # tombstoned: a later write is refused
        self.released: set[ShardKey] = set()  # given up: the key stays writable
        self.down = False
        self.listings = 0

    async def list_shards(
        self, pg: int, after: ShardKey | None = None, limit: int = 1000, timeout: float = 10.0
    ) -> tuple[list[ShardInfo], ShardKey | None]:
        if self.down:
            raise DataNodeUnavailable("127.0.0.1:1: not answering")
        self.listings += 1
        rows = [ShardInfo(k, pg, len(v), crc32c(v), ShardState.LIVE) for k, v in self.shards.items()]
        rows += [ShardInfo(k, pg, 0, 0, ShardState.DEAD) for k in self.dead]
        rows = sorted((r for r in rows if after is None or r.key > after), key=lambda r: r.key)
        page = rows[:limit]
        return page, (page[-1].key if len(rows) > limit else None)

    async def delete_shards(
        self, keys: Sequence[ShardKey], timeout: float = 10.0, *, release: bool = False
    ) -> int:
        live = [k for k in keys if k in self.shards]
        for k in live:
            del self.shards[k]
        (self.released if release else self.dead).update(live if release else keys)
        return len(live)


class Pool:
    def __init__(self, nodes: dict[str, FakeNode]) -> None:
        self.nodes = nodes

    def client(self, addr: str) -> FakeNode:
        return self.nodes[addr]


class Maps:
    """The placement service: `maps` answered in turn (the last one from then on)."""

    def __init__(self, *maps: ClusterMap) -> None:
        self.maps = list(maps)

    async def cluster_map(self, min_epoch: int = 0, wait_s: float = 0.0) -> ClusterMap:
        return self.maps.pop(0) if len(self.maps) > 1 else self.maps[0]


class Catalog:
    def __init__(self, known: set[bytes], gc_queue: Sequence[bytes] = ()) -> None:
        self.known = known
        self.gc_queue = set(gc_queue)
        self.queued: list[RepairReport] = []

    async def find_blobs(self, blob_ids: Sequence[bytes]) -> tuple[bytes, ...]:
        return tuple(b for b in blob_ids if b in self.known or b in self.gc_queue)

    async def list_gc_work(self, limit: int = 1000) -> tuple[GcItem, ...]:
        return tuple(GcItem(b, 0, 1, GcReason.DELETED, 1) for b in sorted(self.gc_queue))[:limit]

    async def queue_repairs(self, reports: Sequence[RepairReport]) -> int:
        self.queued.extend(reports)
        return len(reports)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


IDS = ("n0", "n1", "n2", "n3", "n4")


def a_map(row: tuple[str, ...] = ("n0", "n1", "n2"), epoch: int = 9, **moving: SlotMigration) -> ClusterMap:
    """One PG of 2+1 slots on n0..n2; n3 and n4 hold no slot unless `moving` names them."""
    infos = {i: NodeInfo(i, i, "z", i, i, NodeState.UP, 1 << 30, 0, 0) for i in IDS}
    migrations = {0: {int(slot[1:]): m for slot, m in moving.items()}} if moving else {}
    return ClusterMap(epoch, 2, 1, 1, infos, (row,), migrations)


def shard(blob: bytes, index: int) -> bytes:
    return blob[:1] * (100 + index)


def sweeper(
    nodes: dict[str, FakeNode], catalog: Catalog, maps: Maps, clock: Clock, locks: PgLocks | None = None
) -> OrphanSweepWorker:
    return OrphanSweepWorker(catalog, maps, Pool(nodes), grace_s=10, clock=clock, pg_locks=locks)  # type: ignore[arg-type]


def cluster() -> dict[str, FakeNode]:
    """n3 gave slot 1 up to n1 (A's copy verified there, B's missing there)."""
    nodes = {i: FakeNode() for i in IDS}
    for blob in (A, B):
        nodes["n0"].shards[ShardKey(blob, 0)] = shard(blob, 0)
        nodes["n3"].shards[ShardKey(blob, 1)] = shard(blob, 1)
    nodes["n1"].shards[ShardKey(A, 1)] = shard(A, 1)
    nodes["n3"].shards[ShardKey(C, 1)] = shard(C, 1)  # C: metadata does not know it (an orphan)
    return nodes


async def test_a_leftover_is_released_after_the_grace_only_where_its_target_holds_a_verified_copy() -> None:
    nodes, clock, catalog = cluster(), Clock(), Catalog({A, B})
    # n4 is the holder of slot 2, moving to n2, which does not have A's shard yet
    nodes["n4"].shards[ShardKey(A, 2)] = shard(A, 2)
    worker = sweeper(nodes, catalog, Maps(a_map(s2=SlotMigration(("n4",), 8))), clock)
    first = await worker.run_pass()
    assert first["leftovers_found"] == 2 and first["orphans_found"] == 1
    assert "leftovers_released" not in first and "orphans_deleted" not in first  # within the grace
    assert await worker.backlog() == {"orphan_candidates": 1, "leftover_candidates": 2}

    clock.now = 11
    second = await worker.run_pass()
    assert nodes["n3"].released == {ShardKey(A, 1)}  # given up, the key stays writable
    assert nodes["n3"].dead == {ShardKey(C, 1)}  # the orphan is deleted (tombstoned)
    assert set(nodes["n3"].shards) == {ShardKey(B, 1)}  # its only copy: kept
    assert catalog.queued == [RepairReport(B, 1, 0, "missing", "leftover", "n1")]
    assert set(nodes["n4"].shards) == {ShardKey(A, 2)}  # the moving slot's holder: not a leftover
    assert set(nodes["n1"].shards) == {ShardKey(A, 1)} and not nodes["n1"].released
    assert second["leftovers_released"] == 1 and second["leftover_bytes_released"] == 101
    assert second["leftovers_kept"] == 1 and second["leftovers_queued_for_repair"] == 1
    assert second["orphans_deleted"] == 1 and "leftovers_found" not in second

    nodes["n1"].shards[ShardKey(B, 1)] = shard(B, 1)  # repair rebuilt it on the target
    clock.now = 12
    third = await worker.run_pass()
    assert third["leftovers_released"] == 1 and nodes["n3"].shards == {}
    assert await worker.backlog() == {"orphan_candidates": 0, "leftover_candidates": 0}


@pytest.mark.parametrize("trouble", ["different bytes", "target down", "slot moving"])
async def test_a_leftover_without_a_verified_copy_is_kept(trouble: str) -> None:
    nodes, clock, catalog = cluster(), Clock(), Catalog({A, B})
    del nodes["n3"].shards[ShardKey(B, 1)]
    cmap = a_map()
    if trouble == "different bytes":
        nodes["n1"].shards[ShardKey(A, 1)] = b"x" * 101  # same length, other CRC32C
    elif trouble == "target down":
        nodes["n1"].down = True
    else:  # slot 1 moves from n2 (its holder) to n1, which is still filling up
        del nodes["n1"].shards[ShardKey(A, 1)]
        cmap = a_map(s1=SlotMigration(("n2",), 8))
    worker = sweeper(nodes, catalog, Maps(cmap), clock)
    await worker.run_pass()
    clock.now = 11
    counters = await worker.run_pass()
    assert set(nodes["n3"].shards) == {ShardKey(A, 1)} and not nodes["n3"].released
    assert counters["leftovers_kept"] == 1 and "leftovers_released" not in counters
    assert catalog.queued == []
    assert counters["leftovers_mismatched"] == (trouble == "different bytes")


async def test_a_leftover_of_a_blob_being_deleted_is_deleted() -> None:
    """Metadata knows a blob while it waits in the GC queue (reclaim waits for a node that was
    down): its copy on a node that gave the slot up is deleted (tombstoned), not released, not
    queued for repair; so is one whose slot's target tombstoned the shard."""
    nodes, clock, catalog = cluster(), Clock(), Catalog({A}, gc_queue=[B])
    del nodes["n1"].shards[ShardKey(A, 1)]  # reclaim reached the target: a tombstone
    nodes["n1"].dead.add(ShardKey(A, 1))  # (B's target never had it: nothing listed there)
    worker = sweeper(nodes, catalog, Maps(a_map()), clock)
    await worker.run_pass()
    clock.now = 11
    counters = await worker.run_pass()
    assert nodes["n3"].dead == {ShardKey(A, 1), ShardKey(B, 1), ShardKey(C, 1)} and not nodes["n3"].released
    assert counters["leftovers_deleted"] == 2 and "leftovers_kept" not in counters
    assert catalog.queued == []


async def test_the_slot_coming_back_to_the_node_before_the_release_keeps_its_copy() -> None:
    """The pass listed on a map where n3 gave slot 1 up; when it is about to release, the newest
    map has moved slot 1 back to n3 (n1 its holder until synced): nothing is given up."""
    nodes, clock, catalog = cluster(), Clock(), Catalog({A, B})
    nodes["n1"].shards[ShardKey(B, 1)] = shard(B, 1)
    back = a_map(("n0", "n3", "n2"), epoch=10, s1=SlotMigration(("n1",), 10))
    worker = sweeper(nodes, catalog, Maps(a_map(), a_map(), back), clock)
    await worker.run_pass()
    clock.now = 11
    counters = await worker.run_pass()
    assert set(nodes["n3"].shards) == {ShardKey(A, 1), ShardKey(B, 1)} and not nodes["n3"].released
    assert counters["leftovers_kept"] == 2 and "leftovers_released" not in counters


async def test_a_release_waits_for_repair_to_finish_with_the_pg() -> None:
    nodes, clock, catalog, locks = cluster(), Clock(), Catalog({A, B}), PgLocks()
    worker = sweeper(nodes, catalog, Maps(a_map()), clock, locks)
    await worker.run_pass()
    clock.now = 11
    async with locks.hold(0):  # repair is working on PG 0
        running = asyncio.ensure_future(worker.run_pass())
        await asyncio.sleep(0.05)
        assert not running.done() and not nodes["n3"].released
    counters = await asyncio.wait_for(running, 5)
    assert counters["leftovers_released"] == 1 and nodes["n3"].released == {ShardKey(A, 1)}


async def test_a_target_is_listed_over_the_leftovers_key_range_page_by_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Many leftovers: the target's entries are found across its pages (the first key's cursor
    is the key just below it, also for index 0 and a blob id ending in a zero byte)."""
    nodes, clock = {i: FakeNode() for i in IDS}, Clock()
    blobs = [bytes([1, i]) + bytes(14) for i in range(0, 250)]
    for blob in blobs:
        nodes["n3"].shards[ShardKey(blob, 0)] = b"s" * 10
        nodes["n0"].shards[ShardKey(blob, 0)] = b"s" * 10
    worker = sweeper(nodes, Catalog(set(blobs)), Maps(a_map()), clock)
    monkeypatch.setattr(orphans, "PAGE", 100)
    await worker.run_pass()
    clock.now = 11
    counters = await worker.run_pass()
    assert counters["leftovers_released"] == 250 and nodes["n3"].shards == {}
    assert len(nodes["n0"].shards) == 250


def test_key_before_is_the_greatest_smaller_key() -> None:
    key = ShardKey(bytes(15) + b"\x01", 0)
    before = key_before(key)
    assert before == ShardKey(bytes(16), 2**32 - 1) and before < key
    assert key_before(ShardKey(D, 3)) == ShardKey(D, 2)
    assert key_before(ShardKey(bytes(16), 0)) is None
