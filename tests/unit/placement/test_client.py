"""PlacementClient against in-process placement servers: caching, long polls, leader following, errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from cairn.placement import rpc_server
from cairn.placement.client import PlacementClient, PlacementUnavailable
from cairn.placement.cluster_map import NodeAction
from cairn.placement.config import PlacementConfig
from cairn.placement.errors import InsufficientDomains, MapNotCreated, NodeNotFound
from cairn.placement.service import PlacementService
from cairn.placement.state_machine import PlacementStateMachine
from cairn.replication import NotLeader, ReplicaStatus, SingleNodeReplicator
from cairn.rpc import server as grpc_server
from tests.support.procs import free_port

CONFIG = PlacementConfig(k=2, m=1, pg_count=8)


class Follower(SingleNodeReplicator):
    def __init__(self, machine: PlacementStateMachine, leader: str | None) -> None:
        super().__init__(machine, "p2")
        self.leader = leader

    def status(self) -> ReplicaStatus:
        return ReplicaStatus("p2", 1, "follower", self.leader, 0, 0, ())

    async def propose(self, command: bytes, timeout: float) -> bytes:
        raise NotLeader(self.leader, None)


async def start(service: PlacementService) -> tuple[object, str]:
    server = grpc_server()
    rpc_server.add_to_server(server, service)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture
async def leader() -> AsyncIterator[tuple[PlacementService, str]]:
    machine = PlacementStateMachine()
    service = PlacementService(CONFIG, machine, SingleNodeReplicator(machine, "p1"), {})
    server, addr = await start(service)
    service.peers["p1"] = addr
    yield service, addr
    await server.stop(None)  # type: ignore[attr-defined]


async def beat(client: PlacementClient, i: int, node_id: str | None = None) -> str:
    reply = await client.heartbeat(node_id, f"127.0.0.1:{9000 + i}", f"z{i}", "r0", f"h{i}", 10**12, 0)
    return reply.node_id


async def test_heartbeats_create_the_map_and_the_client_caches_it(
    leader: tuple[PlacementService, str],
) -> None:
    _, addr = leader
    client = PlacementClient([addr])
    try:
        ids = [await beat(client, i) for i in range(3)]
        assert ids == ["dn-0001", "dn-0002", "dn-0003"]
        cmap = await client.cluster_map()
        assert cmap.created and cmap.pg_count == 8 and set(cmap.nodes) == set(ids)
        assert cmap.nodes["dn-0002"].addr == "127.0.0.1:9001"
        pg = cmap.pg_of(b"\x01" * 16)
        assert all(n is not None and n.host for n in cmap.nodes_of(pg))
        assert await client.cluster_map() is cmap  # unchanged epoch: the cached object comes back
        assert await client.cluster_map(min_epoch=cmap.epoch) is cmap
    finally:
        await client.close()


async def test_long_poll_wakes_on_a_new_epoch(leader: tuple[PlacementService, str]) -> None:
    _, addr = leader
    watcher, writer = PlacementClient([addr]), PlacementClient([addr])
    try:
        await beat(writer, 0)
        first = await watcher.cluster_map()
        waiting = asyncio.create_task(watcher.cluster_map(min_epoch=first.epoch + 1, wait_s=10))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await beat(writer, 1)
        newer = await asyncio.wait_for(waiting, 5)
        assert newer.epoch == first.epoch + 1 and len(newer.nodes) == 2
    finally:
        await watcher.close()
        await writer.close()


async def test_refusals_carry_their_reason(leader: tuple[PlacementService, str]) -> None:
    _, addr = leader
    client = PlacementClient([addr])
    try:
        with pytest.raises(NodeNotFound, match="dn-0404") as exc:
            await client.node_command("dn-0404", NodeAction.OUT)
        assert exc.value.reason == "NodeNotFound"
        with pytest.raises(InsufficientDomains, match=r"0 failure domain\(s\)"):
            await client.create_cluster()
    finally:
        await client.close()


async def test_writes_sent_to_a_follower_follow_the_leader(leader: tuple[PlacementService, str]) -> None:
    leader_service, leader_addr = leader
    machine = PlacementStateMachine()
    follower = PlacementService(CONFIG, machine, Follower(machine, "p1"), {"p1": leader_addr})
    server, follower_addr = await start(follower)
    client = PlacementClient([follower_addr, leader_addr])
    try:
        assert await beat(client, 0) == "dn-0001"
        assert "dn-0001" in leader_service.cluster_map().nodes
        states = await client.replica_states()
        assert [(s.role, s.leader_addr) for s in states] == [
            ("follower", leader_addr),
            ("leader", leader_addr),
        ]
    finally:
        await client.close()
        await server.stop(None)  # type: ignore[attr-defined]


async def test_no_leader_and_no_replica_raise_placement_unavailable() -> None:
    machine = PlacementStateMachine()
    leaderless = PlacementService(CONFIG, machine, Follower(machine, None), {})
    server, addr = await start(leaderless)
    client = PlacementClient([addr])
    dead = PlacementClient([f"127.0.0.1:{free_port()}"])
    try:
        started = time.monotonic()
        with pytest.raises(PlacementUnavailable, match="no reachable leader"):
            await client.heartbeat(None, "127.0.0.1:1", "z", "r", "h", 1, 0, timeout=0.5)
        assert time.monotonic() - started < 2
        assert (await client.cluster_map()).epoch == 0  # reads still answered by the follower
        with pytest.raises(PlacementUnavailable, match="placement service unreachable"):
            await dead.cluster_map()
    finally:
        await client.close()
        await dead.close()
        await server.stop(None)  # type: ignore[attr-defined]


async def test_get_placement_names_the_pg_and_its_nodes(leader: tuple[PlacementService, str]) -> None:
    service, addr = leader
    client = PlacementClient([addr])
    try:
        with pytest.raises(MapNotCreated):
            await client.placement_of(b"\x07" * 16)
        for i in range(3):
            await beat(client, i)
        placed = await client.placement_of(b"\x07" * 16)
        cmap = service.cluster_map()
        assert placed.epoch == cmap.epoch and placed.pg == cmap.pg_of(b"\x07" * 16)
        assert [n.id if n else "" for n in placed.nodes] == list(cmap.pgs[placed.pg])
        assert placed.nodes == cmap.nodes_of(placed.pg)
    finally:
        await client.close()
