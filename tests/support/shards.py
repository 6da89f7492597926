"""What the data nodes of a local `cairn up` cluster hold, asked of the nodes themselves.

`listings(cluster)`: every shard (live and dead) every data node of the map lists, PG by PG,
as the admin (mutual TLS), node id -> the entries in listing order (a key listed twice shows
twice). `live_shards(cluster)`: the live ones as (node id, key); `unnamed(cmap, shards)`: those on a
node the map names neither as their slot's target nor as its holder. `used_bytes(cluster)`: the
volume files' bytes on every data node (their Stat). A node that does not answer at once is asked again after a
pause (a loaded machine can time a connect out): the count must be complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from cairn.datanode.client import DataNodeClient, DataNodeUnavailable, ShardInfo, ShardKey, ShardState
from cairn.gc.orphans import named_for
from cairn.placement.client import ClusterMap, PlacementClient
from tests.support.cluster import RunningCluster

LiveShards = set[tuple[str, ShardKey]]
T = TypeVar("T")


async def cluster_map(cluster: RunningCluster) -> ClusterMap:
    placement = PlacementClient([p["addr"] for p in cluster.processes("placement")])
    try:
        return await placement.cluster_map()
    finally:
        await placement.close()


async def retrying(call: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
    """`call()`, again after a pause when the node did not answer; nothing is skipped."""
    for _ in range(attempts - 1):
        try:
            return await call()
        except DataNodeUnavailable:
            await asyncio.sleep(1.0)
    return await call()


def listings(cluster: RunningCluster) -> dict[str, list[ShardInfo]]:
    """Every shard every data node of the map lists (live and dead), asked as the admin."""
    cluster.act_as("admin")

    async def scan() -> dict[str, list[ShardInfo]]:
        cmap = await cluster_map(cluster)

        async def node(addr: str) -> list[ShardInfo]:
            client = DataNodeClient(addr)
            found: list[ShardInfo] = []
            try:
                for pg in range(cmap.pg_count):
                    after: ShardKey | None = None
                    while True:
                        shards, after = await retrying(partial(client.list_shards, pg, after, timeout=30))
                        found.extend(shards)
                        if after is None:
                            break
            finally:
                await client.close()
            return found

        ids = list(cmap.nodes)
        parts = await asyncio.gather(*(node(cmap.nodes[n].addr) for n in ids))
        return dict(zip(ids, parts, strict=True))

    return asyncio.run(scan())


def live_shards(cluster: RunningCluster) -> LiveShards:
    """Every live shard on every data node of the map, as (node id, key), counted as the admin."""
    return {
        (node_id, s.key)
        for node_id, shards in listings(cluster).items()
        for s in shards
        if s.state is ShardState.LIVE
    }


def unnamed(cmap: ClusterMap, shards: LiveShards) -> LiveShards:
    """The shards on a node the map does not name for their slot (copies left behind)."""
    return {(n, k) for n, k in shards if not named_for(cmap, cmap.pg_of(k.blob_id), k.index, n)}


def used_bytes(cluster: RunningCluster) -> int:
    """Bytes of volume files on every data node of the map (their Stat), asked as the admin."""
    cluster.act_as("admin")

    async def total() -> int:
        cmap = await cluster_map(cluster)

        async def one(addr: str) -> int:
            client = DataNodeClient(addr)
            try:
                return (await retrying(partial(client.stat, timeout=30))).used_bytes
            finally:
                await client.close()

        return sum(await asyncio.gather(*(one(n.addr) for n in cmap.nodes.values())))

    return asyncio.run(total())
