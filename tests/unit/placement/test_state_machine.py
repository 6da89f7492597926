"""The placement state machine: registration, operator commands, creation, epochs, snapshots."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cairn.placement.state_machine import CommandFailed, PlacementStateMachine, decode_result, encode

K, M = 2, 1


class Driver:
    """Applies commands in order, as Raft would, and decodes the results."""

    def __init__(self) -> None:
        self.sm = PlacementStateMachine()
        self.index = 0

    def apply(self, **command: Any) -> dict[str, Any]:
        self.index += 1
        return decode_result(self.sm.apply(self.index, encode(command)))

    def heartbeat(self, node_id: str | None, i: int, used: int = 0, now_ms: int = 1000) -> str:
        result = self.apply(
            op="heartbeat",
            node_id=node_id,
            addr=f"127.0.0.1:{7000 + i}",
            zone=f"z{i % 2}",
            rack=f"r{i}",
            host=f"h{i}",
            capacity=1000,
            used=used,
            now_ms=now_ms,
        )
        return str(result["node_id"])


def cluster(nodes: int = 4) -> Driver:
    d = Driver()
    for i in range(nodes):
        d.heartbeat(None, i)
    d.apply(op="create", k=K, m=M, pg_count=16, now_ms=2000)
    return d


def test_first_heartbeat_assigns_sequential_ids_and_a_known_address_keeps_its_id() -> None:
    d = Driver()
    assert [d.heartbeat(None, i) for i in range(3)] == ["dn-0001", "dn-0002", "dn-0003"]
    assert d.heartbeat(None, 1) == "dn-0002"  # a retried first heartbeat does not mint a new id
    assert d.heartbeat("dn-0042", 9) == "dn-0042"  # a persisted id the map does not know is adopted
    assert d.heartbeat(None, 10) == "dn-0043"
    info = d.sm.cluster_map().nodes["dn-0002"]
    assert (info.addr, info.zone, info.rack, info.host, info.state) == (
        "127.0.0.1:7001",
        "z1",
        "r1",
        "h1",
        "up",
    )


def test_create_refuses_with_too_few_domains_then_builds_the_table_once() -> None:
    d = Driver()
    d.heartbeat(None, 0)
    d.heartbeat(None, 1)
    with pytest.raises(CommandFailed) as exc:
        d.apply(op="create", k=K, m=M, pg_count=16, now_ms=1)
    assert exc.value.reason == "InsufficientDomains" and "2 failure domain(s)" in exc.value.message
    d.heartbeat(None, 2)
    d.apply(op="create", k=K, m=M, pg_count=16, now_ms=1)
    cmap = d.sm.cluster_map()
    assert cmap.created and len(cmap.pgs) == 16 and all(len(row) == 3 for row in cmap.pgs)
    with pytest.raises(CommandFailed) as again:
        d.apply(op="create", k=K, m=M, pg_count=32, now_ms=1)
    assert again.value.reason == "AlreadyCreated"


def test_epoch_grows_by_one_per_change_and_not_for_no_ops_or_refusals() -> None:
    d = cluster()
    epochs = [d.sm.epoch]
    d.apply(op="mark_down", node_id="dn-0001", now_ms=1)
    epochs.append(d.sm.epoch)
    d.apply(op="mark_down", node_id="dn-0001", now_ms=1)  # already down: no change
    epochs.append(d.sm.epoch)
    with pytest.raises(CommandFailed):
        d.apply(op="node", node_id="dn-0099", action="out", now_ms=1)
    epochs.append(d.sm.epoch)
    d.heartbeat("dn-0001", 0)
    epochs.append(d.sm.epoch)
    assert epochs == [epochs[0], epochs[0] + 1, epochs[0] + 1, epochs[0] + 1, epochs[0] + 2]


def test_down_keeps_slots_out_moves_them_and_heartbeat_after_auto_out_rejoins() -> None:
    d = cluster(5)
    held = [pg for pg, row in enumerate(d.sm.pgs) if "dn-0001" in row]
    assert held
    d.apply(op="mark_down", node_id="dn-0001", now_ms=1)
    assert d.sm.cluster_map().nodes["dn-0001"].state == "down"
    assert [pg for pg, row in enumerate(d.sm.pgs) if "dn-0001" in row] == held
    d.apply(op="auto_out", node_id="dn-0001", now_ms=2)
    assert d.sm.cluster_map().nodes["dn-0001"].state == "out"
    assert not any("dn-0001" in row for row in d.sm.pgs)
    d.heartbeat("dn-0001", 0)
    assert d.sm.cluster_map().nodes["dn-0001"].state == "up"
    assert any("dn-0001" in row for row in d.sm.pgs)  # admitted again


def test_operator_out_stays_out_through_heartbeats_until_in() -> None:
    d = cluster(5)
    d.apply(op="node", node_id="dn-0002", action="out", now_ms=1)
    d.heartbeat("dn-0002", 1)
    assert d.sm.cluster_map().nodes["dn-0002"].state == "out"
    d.apply(op="node", node_id="dn-0002", action="in", now_ms=2)
    assert d.sm.cluster_map().nodes["dn-0002"].state == "up"


def test_drain_keeps_slots_and_remove_forgets_the_node_for_good() -> None:
    d = cluster(5)
    before = d.sm.pgs
    d.apply(op="node", node_id="dn-0003", action="drain", now_ms=1)
    assert d.sm.cluster_map().nodes["dn-0003"].state == "draining" and d.sm.pgs == before
    d.apply(op="node", node_id="dn-0003", action="remove", now_ms=2)
    assert "dn-0003" not in d.sm.cluster_map().nodes
    assert not any("dn-0003" in row for row in d.sm.pgs)
    with pytest.raises(CommandFailed) as exc:
        d.heartbeat("dn-0003", 2)
    assert exc.value.reason == "NodeRemoved"


def test_malformed_commands_are_refused_not_raised() -> None:
    d = Driver()
    result = json.loads(d.sm.apply(1, b"{not json"))
    assert result["ok"] is False and result["error"] == "BadCommand"
    result = json.loads(d.sm.apply(2, encode({"op": "frobnicate"})))
    assert result["error"] == "UnknownCommand"


def test_snapshot_restores_an_equal_map_and_replicas_applying_the_same_log_agree() -> None:
    d = cluster(5)
    d.apply(op="node", node_id="dn-0002", action="drain", now_ms=5)
    d.apply(op="mark_down", node_id="dn-0004", now_ms=6)
    d.apply(op="node", node_id="dn-0005", action="remove", now_ms=7)
    copy = PlacementStateMachine()
    copy.restore(d.sm.snapshot())
    assert copy.cluster_map() == d.sm.cluster_map()
    assert copy.snapshot() == d.sm.snapshot()
    # ids continue after a restore, and removed ids stay refused
    d2 = Driver()
    d2.sm = copy
    assert d2.heartbeat(None, 20) == "dn-0006"
    with pytest.raises(CommandFailed):
        d2.heartbeat("dn-0005", 4)


def test_restore_rejects_an_unknown_snapshot_version() -> None:
    with pytest.raises(ValueError, match="snapshot version"):
        PlacementStateMachine().restore(encode({"version": 99}))
