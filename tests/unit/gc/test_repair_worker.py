"""The repair worker's choices on one PG, against in-memory data nodes holding real 8+4 shards:
a moving slot's shards are copied from the old holder, a shard whose holder copy is corrupt is
rebuilt from 8 others, blobs metadata no longer knows, queued for GC or tombstoned somewhere
are left alone, the slot is reported synced with the lease's token; a held lease and the pause
flag stop a pass before it does anything."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterable, AsyncIterator, Sequence

from cairn.checksums import crc32c
from cairn.datanode.errors import ShardConflict, ShardCorrupt, ShardDeleted, ShardNotFound
from cairn.datanode.reports import Finding, FindingKind
from cairn.datanode.shards import ShardInfo, ShardKey, ShardState
from cairn.erasure import ErasureCodec, StripeLayout, encode_blob
from cairn.gc.repair import RepairWorker
from cairn.metadata.models import GcItem, GcReason, RepairItem, RepairReport
from cairn.placement.cluster_map import (
    ClusterMap,
    LeaseGrant,
    NodeInfo,
    NodeState,
    RepairWork,
    SlotMigration,
)
from cairn.placement.errors import LeaseHeld

MiB = 1 << 20
CODEC = ErasureCodec(StripeLayout(8, 4, MiB))


class FakeNode:
    def __init__(self) -> None:
        self.shards: dict[ShardKey, bytes] = {}
        self.dead: set[ShardKey] = set()
        self.corrupt: set[ShardKey] = set()
        self.findings: list[Finding] = []
        self.writes = 0

    async def list_shards(
        self, pg: int, after: ShardKey | None = None, limit: int = 1000, timeout: float = 10.0
    ) -> tuple[list[ShardInfo], ShardKey | None]:
        live = [ShardInfo(k, pg, len(v), crc32c(v), ShardState.LIVE) for k, v in self.shards.items()]
        dead = [ShardInfo(k, pg, 0, 0, ShardState.DEAD) for k in self.dead]
        return sorted(live + dead, key=lambda s: (s.key.blob_id, s.key.index)), None

    def read_shard(
        self, key: ShardKey, offset: int = 0, length: int | None = None, timeout: float = 30.0
    ) -> AsyncIterator[bytes]:
        async def gen() -> AsyncIterator[bytes]:
            if key in self.corrupt:
                raise ShardCorrupt(f"{key}: piece failed its crc32c")
            if key not in self.shards:
                raise ShardNotFound(str(key))
            data = self.shards[key]
            yield data[offset : len(data) if length is None else offset + length]

        return gen()

    async def write_shard(
        self, key: ShardKey, pg: int, pieces: AsyncIterable[bytes], timeout: float = 60.0
    ) -> ShardInfo:
        data = b"".join([p async for p in pieces])
        if key in self.dead:
            raise ShardDeleted(f"{key} was deleted on this node")
        if key in self.shards and key not in self.corrupt:  # the data node's rule (store.py)
            if self.shards[key] != data:
                raise ShardConflict(f"{key} exists with different bytes")
            return ShardInfo(key, pg, len(data), crc32c(data), ShardState.LIVE)
        self.corrupt.discard(key)
        self.findings = [f for f in self.findings if f.key != key]  # the row moved
        self.shards[key] = data
        self.writes += 1
        return ShardInfo(key, pg, len(data), crc32c(data), ShardState.LIVE)

    async def scrub_findings(
        self, after: ShardKey | None = None, limit: int = 1000, timeout: float = 10.0
    ) -> tuple[list[Finding], ShardKey | None]:
        return list(self.findings), None


class Pool:
    def __init__(self, nodes: dict[str, FakeNode]) -> None:
        self.nodes = nodes

    def client(self, addr: str) -> FakeNode:
        return self.nodes[addr]

    async def close(self) -> None:
        pass


class Placement:
    def __init__(self, cmap: ClusterMap) -> None:
        self.cmap = cmap
        self.paused = False
        self.holder = ""
        self.synced: list[tuple[int, int, str, int, int]] = []

    async def cluster_map(self, min_epoch: int = 0, wait_s: float = 0.0) -> ClusterMap:
        return self.cmap

    async def repair_work(self, limit: int = 0, timeout: float = 5.0) -> RepairWork:
        return RepairWork(self.cmap.epoch, self.paused, LeaseGrant(self.holder, 7, 0), ())

    async def acquire_lease(self, holder: str, ttl_s: float, timeout: float = 5.0) -> LeaseGrant:
        if self.holder and self.holder != holder:
            raise LeaseHeld(f"held by {self.holder}")
        self.holder = holder
        return LeaseGrant(holder, 7, 0)

    async def release_lease(self, holder: str, token: int, timeout: float = 5.0) -> None:
        self.holder = ""

    async def slot_synced(
        self, pg: int, slot: int, node_id: str, since_epoch: int, lease_token: int, timeout: float = 5.0
    ) -> int:
        self.synced.append((pg, slot, node_id, since_epoch, lease_token))
        return self.cmap.epoch + 1


class Catalog:
    def __init__(self, known: set[bytes], queued: set[bytes]) -> None:
        self.known = known
        self.queued = queued
        self.repairs: list[RepairItem] = []
        self.next_id = 0

    async def find_blobs(self, blob_ids: Sequence[bytes]) -> tuple[bytes, ...]:
        return tuple(b for b in blob_ids if b in self.known or b in self.queued)

    async def list_gc_work(self, limit: int = 1000) -> tuple[GcItem, ...]:
        return tuple(GcItem(b, 0, 1, GcReason.DELETED, 1) for b in sorted(self.queued))[:limit]

    async def queue_repairs(self, reports: Sequence[RepairReport]) -> int:
        for r in reports:  # like the metadata service: one item per shard, a new id each time
            self.repairs = [
                i for i in self.repairs if (i.report.blob_id, i.report.index) != (r.blob_id, r.index)
            ]
            self.next_id += 1
            self.repairs.append(RepairItem(self.next_id, r, 0))
        return len(reports)

    async def list_repair_queue(self, limit: int = 1000) -> tuple[RepairItem, ...]:
        return tuple(self.repairs[:limit])

    async def ack_repairs(self, ids: Sequence[int]) -> int:
        before = len(self.repairs)
        self.repairs = [i for i in self.repairs if i.id not in ids]
        return before - len(self.repairs)


def setup() -> tuple[dict[str, FakeNode], ClusterMap, dict[str, list[bytes]]]:
    """13 nodes; PG 0's slot 3 moved from n03 (its old holder) to n12 at epoch 5."""
    ids = [f"n{i:02d}" for i in range(13)]
    nodes = {i: FakeNode() for i in ids}
    infos = {i: NodeInfo(i, i, "z", i, i, NodeState.UP, 1 << 40, 0, 0) for i in ids}
    row = tuple(ids[:3] + ["n12"] + ids[4:12])
    cmap = ClusterMap(6, 8, 4, 1, infos, (row,), {0: {3: SlotMigration(("n03",), 5)}})
    blobs = {name: encode_blob(CODEC, os.urandom(size)) for name, size in
             {"a": 3 * MiB + 5, "b": 1000, "c": 2000, "d": 3000, "e": 2 * MiB}.items()}  # fmt: skip
    for name, shards in blobs.items():
        blob_id = name.encode() * 16
        for index, data in enumerate(shards):
            holder = "n03" if index == 3 else row[index]
            nodes[holder].shards[ShardKey(blob_id, index)] = data
    return nodes, cmap, blobs


async def test_copies_from_the_old_holder_rebuilds_a_corrupt_one_and_leaves_deleted_blobs_alone() -> None:
    nodes, cmap, blobs = setup()
    bid = {name: name.encode() * 16 for name in blobs}
    nodes["n03"].corrupt.add(ShardKey(bid["e"], 3))  # its copy fails: rebuilt from 8 others
    nodes["n05"].shards.pop(ShardKey(bid["d"], 5))  # d was deleted on n05: a tombstone
    nodes["n05"].dead.add(ShardKey(bid["d"], 5))
    placement = Placement(cmap)
    catalog = Catalog(known={bid["a"], bid["d"], bid["e"]}, queued={bid["c"]})  # b: unknown
    worker = RepairWorker(placement, catalog, Pool(nodes), holder="me")  # type: ignore[arg-type]
    try:
        counters = await worker.run_pass()
    finally:
        await worker.close()
    target = nodes["n12"].shards
    assert target == {ShardKey(bid["a"], 3): blobs["a"][3], ShardKey(bid["e"], 3): blobs["e"][3]}
    assert counters["shards_copied"] == 1 and counters["shards_rebuilt"] == 1
    assert counters["sources_failed"] == 1 and counters["slots_synced"] == 1
    assert placement.synced == [(0, 3, "n12", 5, 7)]
    assert placement.holder == ""  # released on close


async def test_a_wiped_target_is_rebuilt_and_a_second_pass_has_nothing_to_do() -> None:
    nodes, cmap, blobs = setup()
    nodes["n07"].shards.clear()  # wiped: the map still says it holds slot 7
    catalog = Catalog(known={name.encode() * 16 for name in blobs}, queued=set())
    worker = RepairWorker(Placement(cmap), catalog, Pool(nodes), holder="me")  # type: ignore[arg-type]
    try:
        first = await worker.run_pass()
        writes = sum(n.writes for n in nodes.values())
        second = await worker.run_pass()
    finally:
        await worker.close()
    assert nodes["n07"].shards == {ShardKey(name.encode() * 16, 7): s[7] for name, s in blobs.items()}
    assert first["shards_rebuilt"] == 5 and first["shards_copied"] == 5  # n12 got slot 3 too
    assert second.get("shards_rebuilt", 0) == 0 and second.get("shards_copied", 0) == 0
    assert sum(n.writes for n in nodes.values()) == writes


async def test_a_held_lease_or_the_pause_flag_stops_a_pass() -> None:
    nodes, cmap, blobs = setup()
    placement = Placement(cmap)
    catalog = Catalog(known={name.encode() * 16 for name in blobs}, queued=set())
    placement.holder = "other"
    worker = RepairWorker(placement, catalog, Pool(nodes), holder="me")  # type: ignore[arg-type]
    assert await worker.run_pass() == {"lease_waiting": 1}
    placement.holder, placement.paused = "", True
    assert await worker.run_pass() == {"paused": 1}
    assert sum(n.writes for n in nodes.values()) == 0 and placement.synced == []
    await worker.close()


async def test_reported_shards_are_rewritten_on_their_target_and_acked() -> None:
    """A shard its target lists live but serves corrupt is rebuilt from 8 others and replaces the
    bad copy; a good copy reported by mistake is left as it is; a report of a deleted blob is
    acked without a write; one whose target is down stays queued."""
    nodes, cmap, blobs = setup()
    bid = {name: name.encode() * 16 for name in blobs}
    nodes["n02"].corrupt.add(ShardKey(bid["a"], 2))
    nodes["n02"].shards[ShardKey(bid["a"], 2)] = b"x" * len(blobs["a"][2])  # flipped on disk
    catalog = Catalog(known={bid["a"], bid["b"], bid["e"]}, queued=set())  # c and d: deleted
    await catalog.queue_repairs(
        [
            RepairReport(bid["a"], 2, 0, "corrupt", "read", "n02"),
            RepairReport(bid["b"], 4, 0, "corrupt", "read", "n04"),  # its copy is fine
            RepairReport(bid["c"], 5, 0, "missing", "put", "n05"),
        ]
    )
    worker = RepairWorker(Placement(cmap), catalog, Pool(nodes), holder="me")  # type: ignore[arg-type]
    try:
        assert (await worker.backlog())["reports_queued"] == 3
        counters = await worker.run_pass()
        assert nodes["n02"].shards[ShardKey(bid["a"], 2)] == blobs["a"][2]
        assert counters["reports_repaired"] == 2 and counters["reports_taken"] == 3
        assert counters["reports_acked"] == 3 and counters["reports_unreferenced"] == 1
        assert nodes["n04"].writes == 0 and catalog.repairs == []

        # a report whose target is down stays queued until the target is back
        nodes["n06"].corrupt.add(ShardKey(bid["e"], 6))
        await catalog.queue_repairs([RepairReport(bid["e"], 6, 0, "corrupt", "scrub", "n06")])
        down = {**cmap.nodes, "n06": dataclasses.replace(cmap.nodes["n06"], state=NodeState.DOWN)}
        worker._placement = Placement(dataclasses.replace(cmap, nodes=down))  # type: ignore[assignment]
        worker._placement.holder = "me"  # type: ignore[attr-defined]
        counters = await worker.run_pass()
        assert counters["reports_kept"] == 1 and len(catalog.repairs) == 1
        worker._placement = Placement(cmap)  # type: ignore[assignment]
        worker._placement.holder = "me"  # type: ignore[attr-defined]
        counters = await worker.run_pass()
        assert counters["reports_repaired"] == 1 and catalog.repairs == []
        assert nodes["n06"].shards[ShardKey(bid["e"], 6)] == blobs["e"][6]
    finally:
        await worker.close()


async def test_scrub_findings_reach_the_queue_and_are_repaired() -> None:
    nodes, cmap, blobs = setup()
    bid = {name: name.encode() * 16 for name in blobs}
    key = ShardKey(bid["d"], 9)
    nodes["n09"].corrupt.add(key)
    nodes["n09"].findings = [Finding(key, 0, 1, 4096, FindingKind.CORRUPT, "block 0 checksum mismatch", 1.0)]
    nodes["n10"].findings = [  # a leftover of an earlier map on n10: not queued
        Finding(ShardKey(bid["d"], 9), 0, 1, 0, FindingKind.CORRUPT, "", 1.0)
    ]
    catalog = Catalog(known={bid[name] for name in blobs}, queued=set())
    worker = RepairWorker(Placement(cmap), catalog, Pool(nodes), holder="me")  # type: ignore[arg-type]
    try:
        counters = await worker.run_pass()
    finally:
        await worker.close()
    assert counters["scrub_findings"] == 1 and counters["reports_repaired"] == 1
    assert nodes["n09"].shards[key] == blobs["d"][9] and nodes["n09"].findings == []
    assert catalog.repairs == []
