"""Layout history: a slot move keeps the old holder listed until SlotSynced; the lease that fences
SlotSynced; the repair-paused flag; what the map says about redundancy meanwhile."""

from __future__ import annotations

import pytest

from cairn.placement.cluster_map import NodeAction, NodeReport, NodeState, SlotMigration, repair_work
from cairn.placement.commands import (
    AcquireLease,
    Applied,
    Command,
    CreateCluster,
    Heartbeat,
    MarkDown,
    NodeCommand,
    ReleaseLease,
    SetRepairPaused,
    SlotSynced,
    decode_result,
    encode,
)
from cairn.placement.errors import LeaseHeld, LeaseLost, NodeHoldsData, StaleMigration
from cairn.placement.state_machine import PlacementStateMachine

K, M, PGS = 2, 1, 16
TTL = 10_000


class Cluster:
    def __init__(self, nodes: int) -> None:
        self.sm = PlacementStateMachine()
        self.index = 0
        for i in range(nodes):
            self.join(i)
        self.apply(CreateCluster(K, M, PGS, 1))

    def apply(self, command: Command) -> Applied:
        self.index += 1
        return decode_result(self.sm.apply(self.index, encode(command)))

    def join(self, i: int, now_ms: int = 1) -> str:
        report = NodeReport(None, f"10.0.0.{i}:7001", f"z{i % 3}", f"r{i}", f"h{i}", 1000, 0)
        node_id = self.apply(Heartbeat(report, now_ms)).node_id
        assert node_id is not None
        return node_id

    def moves(self) -> dict[tuple[int, int], SlotMigration]:
        return {(pg, slot): mig for pg, slots in self.sm.migrations.items() for slot, mig in slots.items()}


def test_a_join_moves_slots_and_their_old_holders_stay_until_synced() -> None:
    c = Cluster(3)
    assert not c.sm.migrations
    before = c.sm.pgs
    epoch = c.sm.epoch
    c.join(3)
    moves = c.moves()
    assert moves and c.sm.epoch == epoch + 1
    cmap = c.sm.cluster_map()
    for (pg, slot), mig in moves.items():
        assert c.sm.pgs[pg][slot] == "dn-0004" and mig == SlotMigration((before[pg][slot],), epoch + 1)
        assert cmap.holders_of(pg, slot) == (before[pg][slot],)
        # readers try the holder first, then the new target
        assert [n.id for n in cmap.read_nodes(pg)[slot]] == [before[pg][slot], "dn-0004"]
        assert cmap.failures_tolerated(pg) == M  # old holder and new target both serve: nothing is lost
    # the holder going down costs redundancy even though its slot has a new target
    pg, slot = next(iter(moves))
    c.apply(MarkDown(before[pg][slot], 2))
    assert c.sm.cluster_map().failures_tolerated(pg) == M - 1
    assert not c.sm.cluster_map().slot_healthy(pg, slot)


def test_slot_synced_needs_the_lease_and_the_migration_it_was_computed_for() -> None:
    c = Cluster(3)
    c.join(3)
    (pg, slot), mig = next(iter(c.moves().items()))
    target = c.sm.pgs[pg][slot]
    with pytest.raises(LeaseLost):
        c.apply(SlotSynced(pg, slot, target, mig.since_epoch, 1, 5))  # no lease
    token = c.apply(AcquireLease("gc-1", TTL, 5)).token
    assert token == 1
    with pytest.raises(LeaseLost):
        c.apply(SlotSynced(pg, slot, target, mig.since_epoch, token + 1, 6))  # another token
    with pytest.raises(StaleMigration):
        c.apply(SlotSynced(pg, slot, target, mig.since_epoch - 1, token, 6))  # an older move
    with pytest.raises(StaleMigration):
        c.apply(SlotSynced(pg, slot, "dn-0001", mig.since_epoch, token, 6))  # not the target
    with pytest.raises(LeaseLost):
        c.apply(SlotSynced(pg, slot, target, mig.since_epoch, token, 5 + TTL))  # the lease expired
    epoch = c.sm.epoch
    assert c.apply(SlotSynced(pg, slot, target, mig.since_epoch, token, 6)).epoch == epoch + 1
    cmap = c.sm.cluster_map()
    assert (pg, slot) not in c.moves() and cmap.holders_of(pg, slot) == (target,)
    assert [n.id for n in cmap.read_nodes(pg)[slot]] == [target]
    with pytest.raises(StaleMigration):  # done already
        c.apply(SlotSynced(pg, slot, target, mig.since_epoch, token, 7))


def test_a_slot_moving_again_keeps_its_verified_holders_and_gets_a_new_epoch() -> None:
    c = Cluster(3)
    before = c.sm.pgs
    c.join(3)
    first = c.moves()
    c.apply(NodeCommand("dn-0004", NodeAction.DRAIN, 3))  # the new target leaves before it synced
    for key in first:
        pg, slot = key
        again = c.moves()[key]
        # the first holder keeps the older shards, dn-0004 those written while it was the target
        assert again.holders == (before[pg][slot], "dn-0004") and again.since_epoch == c.sm.epoch
        assert c.sm.pgs[pg][slot] != "dn-0004"
        nodes = c.sm.cluster_map().read_nodes(pg)[slot]
        expected = list(dict.fromkeys([before[pg][slot], "dn-0004", c.sm.pgs[pg][slot]]))
        assert [n.id for n in nodes] == expected  # the target may be the first holder again
    assert c.sm.slots_held("dn-0004") == len(first)
    with pytest.raises(NodeHoldsData):
        c.apply(NodeCommand("dn-0004", NodeAction.REMOVE, 4))


def test_an_out_node_returning_is_not_a_holder_of_slots_synced_elsewhere() -> None:
    c = Cluster(4)
    held = [(pg, slot) for pg, row in enumerate(c.sm.pgs) for slot, n in enumerate(row) if n == "dn-0002"]
    c.apply(NodeCommand("dn-0002", NodeAction.OUT, 2))
    token = c.apply(AcquireLease("gc-1", TTL, 3)).token or 0
    for pg, slot in held:
        mig = c.moves()[(pg, slot)]
        assert mig.holders == ("dn-0002",)
        c.apply(SlotSynced(pg, slot, c.sm.pgs[pg][slot], mig.since_epoch, token, 4))
    assert c.sm.slots_held("dn-0002") == 0
    c.apply(NodeCommand("dn-0002", NodeAction.IN, 5))
    cmap = c.sm.cluster_map()
    for pg, slot in held:
        holders = cmap.holders_of(pg, slot)
        assert "dn-0002" not in holders  # whatever it still has on disk is not read as this slot's data
        if c.sm.pgs[pg][slot] == "dn-0002":  # it may be the target again: a new migration to fill it
            assert c.moves()[(pg, slot)].holders and holders[0] != "dn-0002"


def test_the_lease_is_exclusive_until_it_expires_and_renewal_keeps_the_token() -> None:
    c = Cluster(3)
    epoch = c.sm.epoch
    first = c.apply(AcquireLease("gc-1", TTL, 100))
    assert (first.token, first.expires_ms) == (1, 100 + TTL)
    with pytest.raises(LeaseHeld):
        c.apply(AcquireLease("gc-2", TTL, 100 + TTL - 1))
    renewed = c.apply(AcquireLease("gc-1", TTL, 5000))
    assert (renewed.token, renewed.expires_ms) == (1, 5000 + TTL)
    taken = c.apply(AcquireLease("gc-2", TTL, 5000 + TTL))  # expired: another instance takes it
    assert taken.token == 2
    with pytest.raises(LeaseLost):
        c.apply(ReleaseLease("gc-1", 1, 5000 + TTL))
    c.apply(ReleaseLease("gc-2", 2, 5000 + TTL + 1))
    assert c.apply(AcquireLease("gc-1", TTL, 5000 + TTL + 2)).token == 3
    c.apply(SetRepairPaused(True, 1))
    assert c.sm.repair_paused and c.sm.epoch == epoch  # service state, not the map: no new epoch


def test_repair_work_lists_the_least_healthy_pgs_first() -> None:
    c = Cluster(4)
    c.apply(NodeCommand("dn-0001", NodeAction.OUT, 2))  # its slots move; its data is not readable
    c.apply(MarkDown("dn-0002", 3))
    cmap = c.sm.cluster_map()
    work = repair_work(cmap)
    assert [w.healthy_slots for w in work] == sorted(w.healthy_slots for w in work)
    assert all(w.failures_tolerated == w.healthy_slots - K for w in work)
    assert work[0].healthy_slots < K + M
    for w in work:
        for slot in w.slots:
            assert slot.target == cmap.pgs[w.pg][slot.slot]
            if slot.since_epoch:  # a move of dn-0001's slot
                assert slot.holders == ("dn-0001",)
            else:  # synced on dn-0002, which is down
                assert slot.holders == ("dn-0002",) and cmap.nodes["dn-0002"].state is NodeState.DOWN
    assert repair_work(cmap, limit=2) == work[:2]
