"""A placement replica's metrics and readiness, read from an in-process service (one replica,
injected clock): Raft position, node states, and PGs by the failures they can still absorb."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from cairn.placement.metrics import PlacementCollector, readiness
from tests.unit.placement.test_service import hb, make, register


def samples(collector: PlacementCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
    }


async def test_raft_and_map_metrics_follow_the_cluster() -> None:
    service, _, clock = make(down_after_s=15.0)
    collector = PlacementCollector(service)
    before = samples(collector)
    assert before[("cairn_placement_created", ())] == 0 and before[("cairn_placement_pgs", ())] == 0
    ids = await register(service, 3)
    values = samples(collector)
    assert values[("cairn_raft_leader", ())] == 1 and values[("cairn_raft_has_leader", ())] == 1
    assert values[("cairn_raft_applied_index", ())] == values[("cairn_raft_commit_index", ())] > 0
    assert values[("cairn_raft_apply_lag", ())] == 0
    assert values[("cairn_placement_nodes", (("state", "up"),))] == 3
    assert values[("cairn_placement_nodes", (("state", "down"),))] == 0
    assert values[("cairn_placement_pgs", ())] == 8 and values[("cairn_placement_degraded_pgs", ())] == 0
    assert values[("cairn_placement_pgs_by_redundancy", (("failures_tolerated", "1"),))] == 8
    assert sum(values[("cairn_placement_node_slots", (("node", i),))] for i in ids) == 8 * 3
    assert values[("cairn_placement_node_capacity_bytes", (("node", ids[0]),))] == 100 * 2**30

    # the first node goes silent and is marked down: every PG (each spans all 3 nodes) loses a shard
    await service.tick()  # becomes leader: every node's clock starts now
    for _ in range(6):
        clock.now += 3
        for i, node_id in enumerate(ids[1:], start=1):
            await service.heartbeat(hb(i, node_id))
        await service.tick()
    values = samples(collector)
    assert values[("cairn_placement_nodes", (("state", "down"),))] == 1
    assert values[("cairn_placement_node_up", (("node", ids[0]),))] == 0
    assert values[("cairn_placement_degraded_pgs", ())] == 8
    assert values[("cairn_placement_pgs_by_redundancy", (("failures_tolerated", "0"),))] == 8
    assert values[("cairn_placement_pgs_by_redundancy", (("failures_tolerated", "1"),))] == 0


async def test_ready_when_the_replica_knows_a_leader() -> None:
    service, _, _ = make()
    report = await readiness(service)
    assert report.ok and report.detail["role"] == "leader" and report.detail["leader"] == "p1"
