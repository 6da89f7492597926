"""ClusterBlobStore: the write intent precedes the data, and objects of several blobs read back by range."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cairn.api_service.blob_io import ReadQuorumError, WriteQuorumError
from cairn.api_service.blob_reader import BlobReader
from cairn.api_service.blob_writer import BlobWriter
from cairn.api_service.data_path import CURRENT_MAP_S, ClusterBlobStore
from cairn.placement.cluster_map import ClusterMap, NodeInfo, NodeState, SlotMigration

from .test_blob_io import ADDRS, FAST, SMALL, Cluster, FakeNode


def cluster_map(*down: int) -> ClusterMap:
    nodes = {
        f"n{i}": NodeInfo(
            f"n{i}", addr, "z", f"r{i}", f"h{i}", NodeState.DOWN if i in down else NodeState.UP, 1, 0, 0
        )
        for i, addr in enumerate(ADDRS)
    }
    pgs = tuple(tuple(f"n{(pg + i) % 12}" for i in range(12)) for pg in range(4))
    return ClusterMap(epoch=1, k=8, m=4, pg_count=4, nodes=nodes, pgs=pgs)


class Placement:
    def __init__(self) -> None:
        self.map = cluster_map()
        self.calls = 0

    async def cluster_map(self, min_epoch: int = 0, wait_s: float = 0.0) -> ClusterMap:
        self.calls += 1
        return self.map


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    for pos in range(0, len(data), 3000):
        yield data[pos : pos + 3000]


async def no_intent(*_: object) -> None:
    return None


def blob_store(cluster: Cluster, placement: Placement, **options: Any) -> ClusterBlobStore:
    """A ClusterBlobStore over the fake nodes; write intents are dropped unless `record` is given."""
    record = options.pop("record", no_intent)
    writer, reader = BlobWriter(cluster.pool, SMALL, FAST), BlobReader(cluster.pool, FAST)
    return ClusterBlobStore(placement, record, writer, reader, **options)


async def test_write_records_intent_first_and_reads_ranges_across_blobs() -> None:
    cluster, placement = Cluster(), Placement()
    intents: list[tuple[str, str, bytes, int, int]] = []

    async def record(bucket: str, key: str, blob_id: bytes, pg: int) -> None:
        intents.append((bucket, key, blob_id, pg, len(cluster.all_shards)))

    store = blob_store(cluster, placement, record=record)
    parts = [os.urandom(10_000), os.urandom(7_777)]
    refs = [await store.write("b", "k", chunks(p), part_number=n + 1) for n, p in enumerate(parts)]
    assert [(i[0], i[1], i[2], i[4]) for i in intents] == [
        ("b", "k", refs[0].blob_id, 0),
        ("b", "k", refs[1].blob_id, 12),
    ]
    assert [r.part_number for r in refs] == [1, 2] and refs[0].pg == placement.map.pg_of(refs[0].blob_id)
    whole = b"".join(parts)
    for start, end in ((0, len(whole) - 1), (9_990, 10_010), (10_000, 10_000), (12_345, len(whole) - 1)):
        got = b"".join([piece async for piece in store.read(refs, start, end)])
        assert got == whole[start : end + 1]
    assert placement.calls == 1  # the map is cached between calls


async def test_a_down_node_is_skipped_by_writes() -> None:
    cluster, placement = Cluster(), Placement()
    placement.map = cluster_map(0)
    store = blob_store(cluster, placement)
    ref = await store.write("b", "k", chunks(b"x" * 5000))
    assert not cluster.node(0).shards  # the down node got nothing
    assert b"".join([p async for p in store.read([ref], 0, 4999)]) == b"x" * 5000


async def test_a_write_the_cached_map_cannot_place_reads_the_map_again() -> None:
    """Four nodes were down when the map was cached (8 usable slots, the quorum is 9); they are
    back: the next write, within the cache's lifetime, fetches the map once more and succeeds."""
    cluster, placement = Cluster(), Placement()
    placement.map = cluster_map(0, 1, 2, 3)
    now = [0.0]
    store = blob_store(cluster, placement, map_ttl_s=3600, clock=lambda: now[0])
    with pytest.raises(WriteQuorumError):
        await store.write("b", "k", chunks(b"x" * 5000))
    assert placement.calls == 1  # the map this write fetched is current: not fetched twice
    now[0] += CURRENT_MAP_S / 2
    with pytest.raises(WriteQuorumError):
        await store.write("b", "k", chunks(b"x" * 5000))
    assert placement.calls == 1  # nor again within CURRENT_MAP_S, while the nodes are down
    placement.map = cluster_map()  # they are back
    now[0] += CURRENT_MAP_S
    ref = await store.write("b", "k", chunks(b"y" * 5000))
    assert placement.calls == 2 and all(cluster.node(i).shards for i in range(4))
    assert b"".join([p async for p in store.read([ref], 0, 4999)]) == b"y" * 5000
    now[0] += 60
    await store.write("b", "k", chunks(b"z" * 5000))
    assert placement.calls == 2  # a map that places the write is used as cached (TTL 3600 s)


async def test_no_read_fails_while_slots_migrate() -> None:
    """Five slots of a PG move to new nodes (more than m): blobs written before the move read from
    the old holders, blobs written after it from the new targets, both through the same map."""
    cluster, placement = Cluster(), Placement()
    store = blob_store(cluster, placement, map_ttl_s=0)
    old = os.urandom(20_000)
    before = await store.write("b", "k", chunks(old))
    pg, row = before.pg, placement.map.pgs[before.pg]
    new_addrs = [f"node{12 + i}:7000" for i in range(5)]
    nodes = dict(placement.map.nodes)
    for i, addr in enumerate(new_addrs):
        cluster.nodes[addr] = FakeNode(addr, cluster)
        nodes[f"m{i}"] = NodeInfo(f"m{i}", addr, "z", f"rm{i}", f"hm{i}", NodeState.UP, 1, 0, 0)
    moved = tuple(f"m{slot}" if slot < 5 else n for slot, n in enumerate(row))
    pgs = tuple(moved if p == pg else r for p, r in enumerate(placement.map.pgs))
    migrations = {pg: {slot: SlotMigration((row[slot],), 2) for slot in range(5)}}
    placement.map = ClusterMap(2, 8, 4, 4, nodes, pgs, migrations)
    assert placement.map.failures_tolerated(pg) == 4  # the holders still serve every slot

    new = os.urandom(20_000)
    after = await store.write("b", "k2", chunks(new))
    while after.pg != pg:  # a blob of the migrating PG
        after = await store.write("b", "k2", chunks(new))
    assert all(cluster.nodes[a].shards for a in new_addrs)  # new writes went to the targets
    assert b"".join([p async for p in store.read([before], 0, len(old) - 1)]) == old
    assert b"".join([p async for p in store.read([after], 0, len(new) - 1)]) == new
    # without the layout history the blob written before the move would be unreadable (5 > m)
    placement.map = ClusterMap(3, 8, 4, 4, nodes, pgs)
    with pytest.raises(ReadQuorumError):
        _ = b"".join([p async for p in store.read([before], 0, len(old) - 1)])


async def test_requests_arriving_while_the_map_is_fetched_share_that_one_fetch() -> None:
    cluster, placement = Cluster(), Placement()
    release = asyncio.Event()
    original = placement.cluster_map

    async def slow_map(min_epoch: int = 0, wait_s: float = 0.0) -> ClusterMap:
        await release.wait()
        return await original(min_epoch, wait_s)

    placement.cluster_map = slow_map  # type: ignore[method-assign]
    now = [0.0]
    store = blob_store(cluster, placement, clock=lambda: now[0])
    writes = [asyncio.create_task(store.write("b", f"k{i}", chunks(b"x" * 100))) for i in range(8)]
    cancelled = asyncio.create_task(store.write("b", "gone", chunks(b"y")))
    await asyncio.sleep(0.05)
    cancelled.cancel()  # one waiter going away does not cancel the fetch the others wait for
    release.set()
    refs = await asyncio.gather(*writes)
    assert placement.calls == 1 and len({r.blob_id for r in refs}) == 8
    now[0] = 5.0  # past the map's TTL: fetched again, once
    await asyncio.gather(*(store.write("b", f"again{i}", chunks(b"z")) for i in range(4)))
    assert placement.calls == 2
