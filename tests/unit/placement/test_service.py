"""Heartbeats, the leader's down/out timers and auto-creation, driven by an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from cairn.config import ConfigError
from cairn.placement.cluster_map import NodeAction, NodeReport, NodeState
from cairn.placement.config import PlacementConfig
from cairn.placement.errors import InsufficientDomains, NodeHoldsData, NodeNotFound, NodeRemoved
from cairn.placement.service import PlacementService
from cairn.placement.state_machine import PlacementStateMachine
from cairn.replication import NotLeader, ReplicaStatus, SingleNodeReplicator

GiB = 2**30


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall_ms(self) -> int:
        return int(self.now * 1000)


class CountingReplicator(SingleNodeReplicator):
    """The in-memory replicator, counting proposals (Raft writes)."""

    def __init__(self, machine: PlacementStateMachine) -> None:
        super().__init__(machine, "p1")
        self.proposals = 0

    async def propose(self, command: bytes, timeout: float) -> bytes:
        self.proposals += 1
        return await super().propose(command, timeout)


def make(**overrides: object) -> tuple[PlacementService, CountingReplicator, FakeClock]:
    settings: dict[str, object] = {"k": 2, "m": 1, "pg_count": 8, "down_after_s": 15.0, "out_after_s": 600.0}
    settings.update(overrides)
    config = PlacementConfig(**settings)  # type: ignore[arg-type]
    machine = PlacementStateMachine()
    replicator = CountingReplicator(machine)
    clock = FakeClock()
    return PlacementService(config, machine, replicator, {"p1": "127.0.0.1:1"}, clock), replicator, clock


def hb(i: int, node_id: str | None = None, used: int = 0, capacity: int = 100 * GiB) -> NodeReport:
    return NodeReport(node_id, f"127.0.0.1:{7000 + i}", f"z{i}", "r", f"h{i}", capacity, used)


async def register(service: PlacementService, n: int) -> list[str]:
    return [(await service.heartbeat(hb(i))).node_id for i in range(n)]


async def test_map_is_created_automatically_once_k_plus_m_hosts_heartbeat() -> None:
    service, _, _ = make()
    ids = await register(service, 2)
    assert not service.cluster_map().created
    ids += await register(service, 3)
    cmap = service.cluster_map()
    assert ids == ["dn-0001", "dn-0002", "dn-0001", "dn-0002", "dn-0003"]
    assert cmap.created and len(cmap.pgs) == 8 and (cmap.k, cmap.m) == (2, 1)


async def test_explicit_creation_is_refused_with_the_domain_count() -> None:
    service, _, _ = make(auto_create=False)
    await register(service, 2)
    with pytest.raises(InsufficientDomains, match=r"2 failure domain\(s\)"):
        await service.create_cluster()
    await register(service, 3)
    assert not service.cluster_map().created
    await service.create_cluster()
    assert service.cluster_map().created


async def test_steady_heartbeats_do_not_write_through_raft() -> None:
    service, replicator, clock = make(usage_report_interval_s=60.0)
    ids = await register(service, 3)
    writes = replicator.proposals
    epoch = service.cluster_map().epoch
    for _ in range(20):
        clock.now += 3
        for i, node_id in enumerate(ids):
            reply = await service.heartbeat(hb(i, node_id, used=GiB // 10))  # tiny usage change
            assert reply.epoch == epoch
    assert replicator.proposals == writes
    # heartbeat times are still fresh in the map the leader serves
    assert service.cluster_map().nodes[ids[0]].last_heartbeat_ms == clock.wall_ms()


async def test_usage_changes_are_written_at_most_once_per_interval() -> None:
    service, replicator, clock = make(usage_report_interval_s=60.0)
    (node_id,) = await register(service, 1)
    writes = replicator.proposals
    clock.now += 10
    await service.heartbeat(hb(0, node_id, used=50 * GiB))  # big change, but too soon
    assert replicator.proposals == writes
    clock.now += 60
    await service.heartbeat(hb(0, node_id, used=50 * GiB))
    assert replicator.proposals == writes + 1
    assert service.cluster_map().nodes[node_id].used_bytes == 50 * GiB


async def test_a_node_becoming_full_is_written_at_once_and_gets_no_new_slots() -> None:
    service, replicator, clock = make(usage_report_interval_s=60.0)
    ids = await register(service, 4)
    cmap = service.cluster_map()
    slots = cmap.slots_per_node()[ids[0]]
    writes = replicator.proposals
    clock.now += 1  # well within the usage interval
    await service.heartbeat(hb(0, ids[0], used=100 * GiB))  # used == capacity: its disk is full
    assert replicator.proposals == writes + 1
    node = service.cluster_map().nodes[ids[0]]
    assert node.full and node.state is NodeState.UP
    # another node leaves: its slots are refilled, never on the full node
    await service.node_command(ids[1], NodeAction.OUT)
    after = service.cluster_map()
    assert after.slots_per_node()[ids[0]] == slots
    assert all(ids[1] not in row for row in after.pgs)
    # room again: written at once too
    clock.now += 1
    await service.heartbeat(hb(0, ids[0], used=10 * GiB))
    assert replicator.proposals == writes + 3 and not service.cluster_map().nodes[ids[0]].full


async def test_silent_node_goes_down_after_grace_then_out_and_comes_back() -> None:
    service, _, clock = make(down_after_s=15.0, out_after_s=600.0)
    ids = await register(service, 4)
    await service.tick()  # becomes leader: every node's clock starts now
    for _ in range(6):  # all but dn-0004 keep heartbeating every 3 s for 18 s
        clock.now += 3
        for i, node_id in enumerate(ids[:3]):
            await service.heartbeat(hb(i, node_id))
        await service.tick()
    states = {i: n.state for i, n in service.cluster_map().nodes.items()}
    up, down = NodeState.UP, NodeState.DOWN
    assert states == {"dn-0001": up, "dn-0002": up, "dn-0003": up, "dn-0004": down}
    slots_before = service.cluster_map().slots_per_node()["dn-0004"]
    assert slots_before > 0  # down keeps its slots
    clock.now += 600
    for i, node_id in enumerate(ids[:3]):
        await service.heartbeat(hb(i, node_id))
    await service.tick()
    assert service.cluster_map().nodes["dn-0004"].state is NodeState.OUT
    assert service.cluster_map().slots_per_node()["dn-0004"] == 0
    reply = await service.heartbeat(hb(3, "dn-0004"))
    assert reply.node_id == "dn-0004" and service.cluster_map().nodes["dn-0004"].state is NodeState.UP


async def test_a_down_node_that_heartbeats_again_is_up() -> None:
    service, _, clock = make()
    ids = await register(service, 3)
    await service.tick()
    clock.now += 16
    await service.tick()
    assert {n.state for n in service.cluster_map().nodes.values()} == {NodeState.DOWN}
    await service.heartbeat(hb(0, ids[0]))
    assert service.cluster_map().nodes[ids[0]].state is NodeState.UP


async def test_operator_commands_and_unknown_nodes() -> None:
    service, _, _ = make()
    await register(service, 4)
    await service.node_command("dn-0002", NodeAction.DRAIN)
    assert service.cluster_map().nodes["dn-0002"].state is NodeState.DRAINING
    await service.node_command("dn-0002", NodeAction.OUT)
    if service.machine.slots_held("dn-0002"):  # still the holder of its old slots' data
        with pytest.raises(NodeHoldsData):
            await service.node_command("dn-0002", NodeAction.REMOVE)
    await service.node_command("dn-0002", NodeAction.REMOVE, force=True)
    assert "dn-0002" not in service.cluster_map().nodes
    with pytest.raises(NodeNotFound):
        await service.node_command("dn-0077", NodeAction.OUT)


async def test_long_poll_returns_when_the_epoch_moves_or_times_out() -> None:
    service, _, _ = make()
    await register(service, 1)
    epoch = service.cluster_map().epoch
    waiter = asyncio.create_task(service.wait_for_epoch(epoch + 1, wait_s=5.0))
    await asyncio.sleep(0)
    assert not waiter.done()
    await service.heartbeat(hb(1))
    assert (await asyncio.wait_for(waiter, 1.0)).epoch == epoch + 1
    same = await service.wait_for_epoch(epoch + 5, wait_s=0.01)
    assert same.epoch == epoch + 1


class FollowerReplicator(SingleNodeReplicator):
    def status(self) -> ReplicaStatus:
        return ReplicaStatus("p2", 3, "follower", "p1", 0, 0, ())

    async def propose(self, command: bytes, timeout: float) -> bytes:
        raise NotLeader("p1", "127.0.0.1:1")


async def test_a_follower_refuses_heartbeats_naming_the_leader_and_runs_no_timers() -> None:
    machine = PlacementStateMachine()
    service = PlacementService(
        PlacementConfig(k=2, m=1, pg_count=8),
        machine,
        FollowerReplicator(machine),
        {"p1": "127.0.0.1:1", "p2": "127.0.0.1:2"},
        FakeClock(),
    )
    with pytest.raises(NotLeader) as exc:
        await service.heartbeat(hb(0))
    assert exc.value.leader_addr == "127.0.0.1:1"
    await service.tick()  # no-op on a follower
    assert service.cluster_map().epoch == 0


async def test_heartbeats_of_a_removed_node_are_refused_without_a_raft_write() -> None:
    service, replicator, _ = make()
    await register(service, 4)
    await service.node_command("dn-0004", NodeAction.REMOVE)
    writes = replicator.proposals
    for _ in range(3):
        with pytest.raises(NodeRemoved):
            await service.heartbeat(hb(3, "dn-0004"))
    assert replicator.proposals == writes


async def test_fewer_hosts_than_k_plus_m_hold_at_most_the_configured_shards_each() -> None:
    # k=2 m=2 on 2 hosts: by default at most m=2 shards of a PG per host
    service, _, _ = make(m=2, auto_create_hosts=2)
    await register(service, 1)
    assert not service.cluster_map().created
    await register(service, 2)
    cmap = service.cluster_map()
    assert cmap.created and service.machine.per_host == 2
    for pg, row in enumerate(cmap.pgs):
        assert sorted(row) == ["dn-0001", "dn-0001", "dn-0002", "dn-0002"]
        # each host holds two shards: losing one host leaves exactly k
        assert (cmap.failures_tolerated(pg), cmap.host_failures_tolerated(pg)) == (2, 1)
    with pytest.raises(ConfigError):
        PlacementConfig(k=2, m=2, auto_create_hosts=1)  # 1 host x 2 shards < 4


async def test_one_shard_per_host_survives_as_many_host_failures_as_node_failures() -> None:
    service, _, _ = make(m=2)
    await register(service, 4)
    cmap = service.cluster_map()
    assert all(cmap.host_failures_tolerated(pg) == cmap.failures_tolerated(pg) == 2 for pg in range(8))
