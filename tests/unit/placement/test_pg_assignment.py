"""PG assignment: distinct failure domains, balance by weight, minimal movement on leave/join."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.placement.cluster_map import NodeInfo, NodeState
from cairn.placement.errors import InsufficientDomains
from cairn.placement.pg_assignment import Table, create_table, rebalance

K, M = 8, 4
WIDTH = K + M
TB = 10**12


def topology(
    n: int, zones: int, racks_per_zone: int, capacity: list[int] | None = None
) -> dict[str, NodeInfo]:
    nodes = {}
    for i in range(n):
        node_id = f"dn-{i + 1:04d}"
        zone, rack = i % zones, (i // zones) % racks_per_zone
        cap = capacity[i] if capacity else 4 * TB
        nodes[node_id] = NodeInfo(
            node_id, f"10.0.0.{i}:7000", f"z{zone}", f"z{zone}-r{rack}", f"h{i}", NodeState.UP, cap, 0, 0
        )
    return nodes


def with_state(nodes: dict[str, NodeInfo], node_id: str, state: NodeState) -> dict[str, NodeInfo]:
    return {**nodes, node_id: dataclasses.replace(nodes[node_id], state=state)}


def slot_counts(table: Table) -> Counter[str]:
    return Counter(n for row in table for n in row if n)


def changed_slots(before: Table, after: Table) -> list[tuple[str, str]]:
    return [
        (a, b) for ra, rb in zip(before, after, strict=True) for a, b in zip(ra, rb, strict=True) if a != b
    ]


def test_every_pg_has_k_plus_m_nodes_on_distinct_hosts_spread_over_zones() -> None:
    nodes = topology(20, zones=4, racks_per_zone=5)
    table = create_table(256, K, M, nodes)
    assert len(table) == 256
    for row in table:
        assert len(row) == WIDTH and "" not in row
        assert len({nodes[n].host for n in row}) == WIDTH
        # 4 equal zones: each zone holds exactly its fair share (3) of every PG
        assert Counter(nodes[n].zone for n in row) == {"z0": 3, "z1": 3, "z2": 3, "z3": 3}


def test_fewer_failure_domains_than_k_plus_m_refuses_and_says_why() -> None:
    nodes = topology(14, zones=2, racks_per_zone=2)
    for i in range(14):  # 14 nodes but only 11 distinct hosts
        nid = f"dn-{i + 1:04d}"
        nodes[nid] = dataclasses.replace(nodes[nid], host=f"h{min(i, 10)}")
    with pytest.raises(InsufficientDomains) as exc:
        create_table(64, K, M, nodes)
    assert "11 failure domain(s)" in str(exc.value) and "needs 12" in str(exc.value)


def test_down_and_out_nodes_do_not_count_as_domains_for_creation() -> None:
    nodes = with_state(topology(12, zones=3, racks_per_zone=4), "dn-0001", NodeState.DOWN)
    with pytest.raises(InsufficientDomains):
        create_table(16, K, M, nodes)


@pytest.mark.parametrize(
    ("n", "zones", "racks", "tolerance"), [(16, 4, 2, 0.06), (20, 4, 5, 0.08), (24, 3, 4, 0.08)]
)
def test_balance_with_equal_weights(n: int, zones: int, racks: int, tolerance: float) -> None:
    # 1024 PGs x 12 slots; a node holds a slot of a PG with p = 12/n, so sampling noise alone is
    # about 2-3% (one sigma) per node: the tolerance is ~3 sigma.
    nodes = topology(n, zones, racks)
    counts = slot_counts(create_table(1024, K, M, nodes))
    ideal = 1024 * WIDTH / n
    worst = max(abs(counts[i] / ideal - 1) for i in nodes)
    assert worst <= tolerance, f"worst node deviates {worst:.1%} from its weight share"


def test_balance_follows_capacity_weights() -> None:
    # 24 hosts (own racks), 3 zones of equal total weight; capacities 4, 5 and 6 TB.
    caps = [(4 + (i // 3) % 3) * TB for i in range(24)]
    nodes = topology(24, zones=3, racks_per_zone=8, capacity=caps)
    counts = slot_counts(create_table(1024, K, M, nodes))
    total_weight = sum(caps)
    worst = max(abs(counts[i] / (1024 * WIDTH) / (nodes[i].capacity_bytes / total_weight) - 1) for i in nodes)
    # weighted rendezvous picks 12 of 24 without replacement, which pulls shares slightly toward
    # equal ("multipick anomaly"); with a 1.5x capacity spread that stays within 10%
    assert worst <= 0.10, f"worst node deviates {worst:.1%} from its weight share"
    assert counts["dn-0007"] > counts["dn-0001"]  # 6 TB node holds more than a 4 TB one


def test_a_node_going_out_moves_only_its_own_slots() -> None:
    nodes = topology(20, zones=4, racks_per_zone=5)
    before = create_table(1024, K, M, nodes)
    held = slot_counts(before)["dn-0005"]
    after = rebalance(before, K, M, with_state(nodes, "dn-0005", NodeState.OUT))
    moved = changed_slots(before, after)
    assert all(old == "dn-0005" for old, _ in moved)
    assert len(moved) == held and "dn-0005" not in slot_counts(after)
    assert len(moved) / (1024 * WIDTH) <= 1.5 / 20  # ideal share of one of 20 nodes is 1/20
    for row in after:
        assert "" not in row and len({nodes[n].host for n in row}) == WIDTH


def test_a_joining_node_takes_about_its_share_and_nothing_else_moves() -> None:
    nodes = topology(20, zones=4, racks_per_zone=5)
    before = create_table(1024, K, M, nodes)
    new = NodeInfo("dn-0021", "10.0.1.1:7000", "z0", "z0-r0", "h-new", NodeState.UP, 4 * TB, 0, 0)
    after = rebalance(before, K, M, {**nodes, new.id: new}, joined=[new.id])
    moved = changed_slots(before, after)
    assert moved and all(dst == new.id for _, dst in moved)
    fraction = len(moved) / (1024 * WIDTH)
    assert fraction <= 1.5 / 21, f"{fraction:.4f} of slots moved, ideal {1 / 21:.4f}"
    assert fraction >= 0.5 / 21
    for row in after:
        assert len({({**nodes, new.id: new})[n].host for n in row}) == WIDTH


def test_down_nodes_keep_their_slots_draining_and_out_nodes_give_theirs_up() -> None:
    nodes = topology(16, zones=4, racks_per_zone=4)
    before = create_table(256, K, M, nodes)
    changed = with_state(with_state(nodes, "dn-0002", NodeState.DOWN), "dn-0003", NodeState.DRAINING)
    changed = with_state(changed, "dn-0004", NodeState.OUT)
    after = rebalance(before, K, M, changed)
    moved = changed_slots(before, after)
    assert {old for old, _ in moved} == {"dn-0003", "dn-0004"}
    assert all(new not in ("dn-0002", "dn-0003", "dn-0004") for _, new in moved)
    assert not any(n in row for row in after for n in ("dn-0003", "dn-0004"))


def test_unfillable_slots_stay_empty_then_fill_when_a_domain_appears() -> None:
    nodes = topology(12, zones=3, racks_per_zone=4)
    before = create_table(32, K, M, nodes)
    after = rebalance(before, K, M, with_state(nodes, "dn-0001", NodeState.OUT))
    assert all(row.count("") == 1 for row in after)
    new = NodeInfo("dn-0013", "10.0.1.1:7000", "z0", "z0-r9", "h-new", NodeState.UP, 4 * TB, 0, 0)
    refilled = rebalance(
        after, K, M, {**with_state(nodes, "dn-0001", NodeState.OUT), new.id: new}, joined=[new.id]
    )
    assert all("" not in row and new.id in row for row in refilled)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, NodeInfo], list[tuple[str, str]]]:
    n = draw(st.integers(min_value=4, max_value=10))
    zones = draw(st.integers(min_value=1, max_value=4))
    caps = draw(st.lists(st.integers(min_value=1, max_value=8), min_size=n, max_size=n))
    nodes = topology(n, zones, racks_per_zone=2, capacity=[c * TB for c in caps])
    ops = draw(
        st.lists(
            st.tuples(st.sampled_from(sorted(nodes) + ["new"]), st.sampled_from([*NodeState, "remove"])),
            max_size=8,
        )
    )
    return nodes, ops


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_any_sequence_of_changes_keeps_the_table_valid_and_moves_only_changed_nodes(
    scenario: tuple[dict[str, NodeInfo], list[tuple[str, str]]],
) -> None:
    nodes, ops = scenario
    k, m = 2, 2
    table = create_table(32, k, m, nodes)
    for step, (target, state) in enumerate(ops):
        before_nodes = dict(nodes)
        if target == "new":
            target = f"dn-new-{step}"
            nodes[target] = NodeInfo(target, "a:1", "z0", "z0-r9", f"h-new-{step}", NodeState.UP, TB, 0, 0)
        elif target not in nodes:
            continue
        elif state == "remove":
            del nodes[target]
        else:
            nodes[target] = dataclasses.replace(nodes[target], state=state)
        joined = [target] if target in nodes and nodes[target].state == NodeState.UP else []
        after = rebalance(table, k, m, nodes, joined=joined)
        for row_before, row_after in zip(table, after, strict=True):
            members = [n for n in row_after if n]
            assert len({nodes[n].host for n in members}) == len(members)  # distinct hosts
            assert all(
                nodes[n].state in (NodeState.UP, NodeState.DOWN) for n in members
            )  # no out/draining/removed node
            for old, new in zip(row_before, row_after, strict=True):
                if old == new:
                    continue
                # a slot changes only when its node left, it was empty, or it went to the changed node
                left = (
                    old == "" or old not in nodes or nodes[old].state in (NodeState.OUT, NodeState.DRAINING)
                )
                assert left or new == target, (old, new, target)
                if old and old in before_nodes and old != target and old in nodes:
                    assert nodes[old].state in (
                        NodeState.UP,
                        NodeState.OUT,
                    )  # down/draining members are never displaced
            eligible_hosts = {x.host for x in nodes.values() if x.state == NodeState.UP}
            if "" in row_after:  # an empty slot means no eligible host was left for it
                assert eligible_hosts <= {nodes[n].host for n in members}
        table = after


def test_fewer_hosts_than_slots_share_hosts_up_to_the_limit() -> None:
    nodes = topology(6, zones=3, racks_per_zone=2)  # 6 hosts for 12 slots
    with pytest.raises(InsufficientDomains):
        create_table(16, K, M, nodes)  # one shard per host: impossible
    with pytest.raises(InsufficientDomains):
        create_table(16, K, M, nodes, per_host=1)
    table = create_table(64, K, M, nodes, per_host=2)
    for row in table:
        assert "" not in row and max(Counter(nodes[n].host for n in row).values()) == 2
    # a node going out: its slots have nowhere to go within the limit, and stay empty
    after = rebalance(table, K, M, with_state(nodes, "dn-0001", NodeState.OUT), per_host=2)
    assert all(
        row.count("") == (2 if "dn-0001" in before else 0) for row, before in zip(after, table, strict=True)
    )
    # with a limit of 3 they are refilled on the other hosts, never more than 3 per host
    after = rebalance(table, K, M, with_state(nodes, "dn-0001", NodeState.OUT), per_host=3)
    for row in after:
        assert "" not in row and "dn-0001" not in row
        assert max(Counter(nodes[n].host for n in row).values()) <= 3


def test_enough_hosts_keep_one_shard_per_host_whatever_the_limit() -> None:
    nodes = topology(16, zones=4, racks_per_zone=4)
    for row in create_table(64, K, M, nodes, per_host=4):
        assert len({nodes[n].host for n in row}) == WIDTH


def full(nodes: dict[str, NodeInfo], node_id: str) -> dict[str, NodeInfo]:
    """`node_id` reporting its usage at its capacity (its disk past the reserve)."""
    node = nodes[node_id]
    return {**nodes, node_id: dataclasses.replace(node, used_bytes=node.capacity_bytes)}


def test_full_nodes_keep_their_slots_get_no_new_ones_and_are_no_domain_for_creation() -> None:
    nodes = topology(16, zones=4, racks_per_zone=4)
    assert full(nodes, "dn-0002")["dn-0002"].full and not nodes["dn-0002"].full
    before = create_table(256, K, M, nodes)
    changed = with_state(full(nodes, "dn-0002"), "dn-0004", NodeState.OUT)
    after = rebalance(before, K, M, changed)
    moved = changed_slots(before, after)
    assert moved and all(old == "dn-0004" for old, _ in moved)
    assert all(new != "dn-0002" for _, new in moved)
    assert slot_counts(after)["dn-0002"] == slot_counts(before)["dn-0002"]
    # a joining node does not take a full node's slots either: only its own share moves to it
    new = NodeInfo("dn-0017", "10.0.1.1:7000", "z0", "z0-r9", "h-new", NodeState.UP, 4 * TB, 0, 0)
    joined = rebalance(after, K, M, {**changed, new.id: new}, joined=[new.id])
    assert slot_counts(joined)["dn-0002"] == slot_counts(after)["dn-0002"]
    # creation counts only hosts that can take slots
    twelve = topology(12, zones=3, racks_per_zone=4)
    with pytest.raises(InsufficientDomains) as refused:
        create_table(32, K, M, full(twelve, "dn-0005"))
    assert "11 failure domain(s)" in str(refused.value)
    # a node reporting no capacity at all is not full (an empty report still places)
    empty = {i: dataclasses.replace(n, capacity_bytes=0) for i, n in twelve.items()}
    assert not any(n.full for n in empty.values()) and create_table(8, K, M, empty)
