"""The repair worker's choices on one PG, against in-memory data nodes holding real 8+4 shards:
a moving slot's shards are copied from the old holder, a shard whose holder copy is corrupt is
rebuilt from 8 others, blobs metadata no longer knows, queued for GC or tombstoned somewhere
are left alone, the slot is reported synced with the lease's token; a held lease and the pause
flag stop a pass before it does anything."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Sequence

from cairn.checksums import crc32c
from cairn.datanode.errors import ShardCorrupt, ShardDeleted, ShardNotFound
from cairn.datanode.shards import ShardInfo, ShardKey, ShardState
from cairn.erasure import ErasureCodec, StripeLayout, encode_blob
from cairn.gc.repair import RepairWorker
from cairn.metadata.models import GcItem, GcReason
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
        self.shards[key] = data
        self.writes += 1
        return ShardInfo(key, pg, len(data), crc32c(data), ShardState.LIVE)


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

    async def find_blobs(self, blob_ids: Sequence[bytes]) -> tuple[bytes, ...]:
        return tuple(b for b in blob_ids if b in self.known or b in self.queued)

    async def list_gc_work(self, limit: int = 1000) -> tuple[GcItem, ...]:
        return tuple(GcItem(b, 0, 1, GcReason.DELETED, 1) for b in sorted(self.queued))[:limit]


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
