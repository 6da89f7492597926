"""A paused (SIGSTOP) placement leader: the others take over; once resumed, the old leader follows.

While the leader is frozen, data-node heartbeats and operator commands keep working through the new
leader; after SIGCONT the old leader must not accept changes of its own (its writes are redirected),
it catches up, and every replica converges on the same map with an epoch that only moved forward.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from cairn.placement.client import NodeAction, NodeState, PlacementClient
from tests.integration.test_placement_cluster import IDS, Cluster, heartbeat_all, wait_applied, wait_leader
from tests.support.procs import ServiceProcess


async def test_paused_leader_is_replaced_and_rejoins_as_follower(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    cluster = Cluster(tmp_path, processes)
    for rid in IDS:
        cluster.start(rid)
    cluster.wait_listening()
    client = cluster.client()
    try:
        old = await wait_leader(client, 15)
        ids: list[str | None] = [None] * 4
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (await client.cluster_map()).created:
            ids = await heartbeat_all(client, ids)
            await asyncio.sleep(0.2)
        before = await client.cluster_map()
        assert before.created

        os.kill(cluster.procs[old].pid, signal.SIGSTOP)
        try:
            new = await wait_leader(client, 10, not_=old)
            epoch = await client.node_command("dn-0002", NodeAction.OUT, timeout=10)
            assert epoch > before.epoch
            ids = await heartbeat_all(client, ids)  # data nodes keep heart-beating through the new leader
        finally:
            os.kill(cluster.procs[old].pid, signal.SIGCONT)

        # the old leader, resumed, refuses writes by pointing at the new one, and catches up
        resumed = PlacementClient([cluster.addrs[old]])
        try:
            epoch2 = await resumed.node_command(
                "dn-0002", NodeAction.IN, timeout=10
            )  # redirected to the leader
            assert epoch2 == epoch + 1
            await wait_applied(client, epoch2, 10)
            states = {s.id: s for s in await client.replica_states()}
            assert states[old].role == "follower" and states[old].leader_id == new
            maps = []
            for rid in IDS:
                one = PlacementClient([cluster.addrs[rid]])
                maps.append(await one.cluster_map())
                await one.close()
            assert {m.epoch for m in maps} == {epoch2} and len({m.pgs for m in maps}) == 1
            assert maps[0].nodes["dn-0002"].state is NodeState.UP
        finally:
            await resumed.close()
    finally:
        await client.close()
