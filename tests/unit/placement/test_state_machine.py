"""The placement state machine: registration, operator commands, creation, epochs, snapshots,
and the bytes of commands and snapshots (logs written by earlier code still apply)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from cairn.placement.cluster_map import NodeAction, NodeReport, NodeState
from cairn.placement.commands import (
    AcquireLease,
    Applied,
    AutoOut,
    Command,
    CreateCluster,
    Heartbeat,
    MarkDown,
    NodeCommand,
    ReleaseLease,
    SetRepairPaused,
    SlotSynced,
    decode,
    decode_result,
    encode,
)
from cairn.placement.errors import (
    AlreadyCreated,
    BadCommand,
    InsufficientDomains,
    NodeHoldsData,
    NodeNotFound,
    NodeRemoved,
)
from cairn.placement.state_machine import PlacementStateMachine

K, M = 2, 1
GOLDEN = Path(__file__).parent / "golden"


class Driver:
    """Applies commands in order, as Raft would (through their bytes), and decodes the results."""

    def __init__(self) -> None:
        self.sm = PlacementStateMachine()
        self.index = 0

    def apply(self, command: Command) -> Applied:
        self.index += 1
        return decode_result(self.sm.apply(self.index, encode(command)))

    def heartbeat(self, node_id: str | None, i: int, used: int = 0, now_ms: int = 1000) -> str:
        result = self.apply(
            Heartbeat(
                NodeReport(node_id, f"127.0.0.1:{7000 + i}", f"z{i % 2}", f"r{i}", f"h{i}", 1000, used),
                now_ms,
            )
        )
        assert result.node_id is not None
        return result.node_id


def cluster(nodes: int = 4) -> Driver:
    d = Driver()
    for i in range(nodes):
        d.heartbeat(None, i)
    d.apply(CreateCluster(K, M, 16, 2000))
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
        NodeState.UP,
    )


def test_create_refuses_with_too_few_domains_then_builds_the_table_once() -> None:
    d = Driver()
    d.heartbeat(None, 0)
    d.heartbeat(None, 1)
    with pytest.raises(InsufficientDomains, match=r"2 failure domain\(s\)"):
        d.apply(CreateCluster(K, M, 16, 1))
    d.heartbeat(None, 2)
    d.apply(CreateCluster(K, M, 16, 1))
    cmap = d.sm.cluster_map()
    assert cmap.created and len(cmap.pgs) == 16 and all(len(row) == 3 for row in cmap.pgs)
    with pytest.raises(AlreadyCreated):
        d.apply(CreateCluster(K, M, 32, 1))


def test_epoch_grows_by_one_per_change_and_not_for_no_ops_or_refusals() -> None:
    d = cluster()
    epochs = [d.sm.epoch]
    d.apply(MarkDown("dn-0001", 1))
    epochs.append(d.sm.epoch)
    d.apply(MarkDown("dn-0001", 1))  # already down: no change
    epochs.append(d.sm.epoch)
    with pytest.raises(NodeNotFound):
        d.apply(NodeCommand("dn-0099", NodeAction.OUT, 1))
    epochs.append(d.sm.epoch)
    d.heartbeat("dn-0001", 0)
    epochs.append(d.sm.epoch)
    assert epochs == [epochs[0], epochs[0] + 1, epochs[0] + 1, epochs[0] + 1, epochs[0] + 2]


def test_down_keeps_slots_out_moves_them_and_heartbeat_after_auto_out_rejoins() -> None:
    d = cluster(5)
    held = [pg for pg, row in enumerate(d.sm.pgs) if "dn-0001" in row]
    assert held
    d.apply(MarkDown("dn-0001", 1))
    assert d.sm.cluster_map().nodes["dn-0001"].state is NodeState.DOWN
    assert [pg for pg, row in enumerate(d.sm.pgs) if "dn-0001" in row] == held
    d.apply(AutoOut("dn-0001", 2))
    assert d.sm.cluster_map().nodes["dn-0001"].state is NodeState.OUT
    assert not any("dn-0001" in row for row in d.sm.pgs)
    d.heartbeat("dn-0001", 0)
    assert d.sm.cluster_map().nodes["dn-0001"].state is NodeState.UP
    assert any("dn-0001" in row for row in d.sm.pgs)  # admitted again


def test_operator_out_stays_out_through_heartbeats_until_in() -> None:
    d = cluster(5)
    d.apply(NodeCommand("dn-0002", NodeAction.OUT, 1))
    d.heartbeat("dn-0002", 1)
    assert d.sm.cluster_map().nodes["dn-0002"].state is NodeState.OUT
    d.apply(NodeCommand("dn-0002", NodeAction.IN, 2))
    assert d.sm.cluster_map().nodes["dn-0002"].state is NodeState.UP


def test_drain_moves_slots_and_remove_forgets_the_node_for_good() -> None:
    d = cluster(5)
    held = sum(row.count("dn-0003") for row in d.sm.pgs)
    d.apply(NodeCommand("dn-0003", NodeAction.DRAIN, 1))
    cmap = d.sm.cluster_map()
    assert cmap.nodes["dn-0003"].state is NodeState.DRAINING
    assert not any("dn-0003" in row for row in d.sm.pgs)  # its slots have new targets...
    assert d.sm.slots_held("dn-0003") == held > 0  # ...and it holds their data until synced
    with pytest.raises(NodeHoldsData):
        d.apply(NodeCommand("dn-0003", NodeAction.REMOVE, 2))
    d.apply(NodeCommand("dn-0003", NodeAction.REMOVE, 2, force=True))
    assert "dn-0003" not in d.sm.cluster_map().nodes and d.sm.slots_held("dn-0003") == 0
    assert not any("dn-0003" in row for row in d.sm.pgs)
    with pytest.raises(NodeRemoved):
        d.heartbeat("dn-0003", 2)


def test_every_change_logs_one_epoch_line_and_no_ops_and_refusals_log_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    d = Driver()
    with caplog.at_level(logging.INFO):
        for i in range(3):
            d.heartbeat(None, i)
        d.heartbeat("dn-0001", 0)  # changes the map (usage, time), so the epoch moves too
        d.apply(CreateCluster(K, M, 16, 2))
        d.apply(MarkDown("dn-0001", 3))
        d.apply(MarkDown("dn-0001", 3))  # no-op
        d.apply(AutoOut("dn-0001", 4))
        d.apply(NodeCommand("dn-0002", NodeAction.DRAIN, 5))
        with pytest.raises(NodeNotFound):
            d.apply(NodeCommand("dn-0099", NodeAction.OUT, 6))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cluster map epoch")]
    assert lines == [
        "cluster map epoch 1: heartbeat of dn-0001 (127.0.0.1:7000) updated the map",
        "cluster map epoch 2: heartbeat of dn-0002 (127.0.0.1:7001) updated the map",
        "cluster map epoch 3: heartbeat of dn-0003 (127.0.0.1:7002) updated the map",
        "cluster map epoch 4: heartbeat of dn-0001 (127.0.0.1:7000) updated the map",
        "cluster map epoch 5: created 16 placement groups, k=2 m=1",
        "cluster map epoch 6: node dn-0001: down (missed heartbeats)",
        "cluster map epoch 7: node dn-0001: out (down too long; back in on its next heartbeat)",
        "cluster map epoch 8: node dn-0002: drain",
    ]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"{not json", "malformed"),
        (b"[1, 2]", "JSON object"),
        (b'{"op": "frobnicate", "now_ms": 1}', "unknown placement command 'frobnicate'"),
        (b'{"op": "mark_down", "now_ms": 1}', "malformed"),  # no node_id
        (b'{"op": "node", "node_id": "dn-0001", "action": "explode", "now_ms": 1}', "unknown node action"),
        (b'{"op": "mark_down", "node_id": "dn-0001", "now_ms": 1, "v": 3}', "version 3"),
        (b"\xff\xfe", "malformed"),
    ],
)
def test_malformed_commands_are_refused_not_raised_and_change_nothing(data: bytes, why: str) -> None:
    d = cluster()
    before = d.sm.snapshot()
    result = json.loads(d.sm.apply(99, data))
    assert result["ok"] is False and result["error"] == "BadCommand" and why in result["message"]
    with pytest.raises(BadCommand, match=why):
        decode_result(d.sm.apply(100, data))
    assert d.sm.snapshot() == before


def test_snapshot_restores_an_equal_map_and_replicas_applying_the_same_log_agree() -> None:
    d = cluster(5)
    d.apply(NodeCommand("dn-0002", NodeAction.DRAIN, 5))
    d.apply(MarkDown("dn-0004", 6))
    d.apply(NodeCommand("dn-0005", NodeAction.REMOVE, 7, force=True))
    d.apply(AcquireLease("gc-1", 10_000, 8))
    d.apply(SetRepairPaused(True, 9))
    assert d.sm.migrations  # the drain and the remove started migrations; the snapshot keeps them
    copy = PlacementStateMachine()
    copy.restore(d.sm.snapshot())
    assert copy.cluster_map() == d.sm.cluster_map()
    assert copy.snapshot() == d.sm.snapshot()
    # ids continue after a restore, and removed ids stay refused
    d2 = Driver()
    d2.sm = copy
    assert d2.heartbeat(None, 20) == "dn-0006"
    with pytest.raises(NodeRemoved):
        d2.heartbeat("dn-0005", 4)


def test_restore_rejects_an_unknown_snapshot_version() -> None:
    with pytest.raises(ValueError, match="snapshot version"):
        PlacementStateMachine().restore(b'{"version": 99}')


EVERY_COMMAND: list[Command] = [
    Heartbeat(NodeReport(None, "10.0.0.1:7001", "z1", "r1", "h1", 10**13, 12345), 1_700_000_000_000),
    Heartbeat(NodeReport("dn-0007", "10.0.0.7:7001", "", "", "10.0.0.7:7001", 0, 0), 1),
    MarkDown("dn-0001", 2),
    AutoOut("dn-0001", 3),
    *(NodeCommand("dn-0002", action, 4) for action in NodeAction),
    NodeCommand("dn-0002", NodeAction.REMOVE, 4, force=True),
    CreateCluster(8, 4, 256, 5),
    SlotSynced(3, 11, "dn-0009", 42, 7, 6),
    AcquireLease("gc-1", 15_000, 7),
    ReleaseLease("gc-1", 7, 8),
    SetRepairPaused(True, 9),
]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: type(c).__name__)
def test_every_command_has_one_deterministic_encoding_that_round_trips(command: Command) -> None:
    data = encode(command)
    assert decode(data) == command
    assert encode(decode(data)) == data
    doc = json.loads(data)
    assert doc["v"] == 2 and data == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def test_commands_in_the_format_before_versioning_still_decode() -> None:
    # Entries proposed before commands carried "v" (version 1 implied), byte for byte as written.
    old = [
        b'{"addr":"10.0.0.1:7001","capacity":1000,"host":"h1","node_id":null,"now_ms":1000,'
        b'"op":"heartbeat","rack":"r1","used":10,"zone":"z1"}',
        b'{"node_id":"dn-0001","now_ms":3000,"op":"mark_down"}',
        b'{"node_id":"dn-0001","now_ms":4000,"op":"auto_out"}',
        b'{"action":"drain","node_id":"dn-0002","now_ms":6000,"op":"node"}',
        b'{"k":2,"m":1,"now_ms":2000,"op":"create","pg_count":8}',
    ]
    assert [decode(data) for data in old] == [
        Heartbeat(NodeReport(None, "10.0.0.1:7001", "z1", "r1", "h1", 1000, 10), 1000),
        MarkDown("dn-0001", 3000),
        AutoOut("dn-0001", 4000),
        NodeCommand("dn-0002", NodeAction.DRAIN, 6000, force=True, legacy=True),
        CreateCluster(2, 1, 8, 2000),
    ]
    drain = decode(old[3])
    assert decode(encode(drain)) == drain  # a version-1 node command is re-encoded as version 1


def test_a_raft_log_and_snapshot_written_by_the_earlier_code_give_the_same_map() -> None:
    # golden/log-v1.jsonl: 20 entries (every command, no-ops and refusals) encoded by the code
    # before typed commands; results-v1.jsonl: what that code answered; snapshot-v1.json: the
    # snapshot it took after the last entry.
    log = (GOLDEN / "log-v1.jsonl").read_bytes().splitlines()
    expected = [json.loads(line) for line in (GOLDEN / "results-v1.jsonl").read_bytes().splitlines()]
    golden_snapshot = (GOLDEN / "snapshot-v1.json").read_bytes()
    sm = PlacementStateMachine()
    for index, (entry, want) in enumerate(zip(log, expected, strict=True), 1):
        got = json.loads(sm.apply(index, entry))
        assert (got["ok"], got.get("epoch"), got.get("node_id"), got.get("error")) == (
            want["ok"],
            want.get("epoch"),
            want.get("node_id"),
            want.get("error"),
        ), f"entry {index}: {entry!r}"
    # the same map as the earlier code's snapshot; ours adds the layout-history fields (version 2):
    # replaying the log records the slot moves it made as migrations (no data moved then), which
    # the earlier snapshot could not record
    ours, theirs = json.loads(sm.snapshot()), json.loads(golden_snapshot)
    assert (ours.pop("version"), theirs.pop("version")) == (2, 1)
    assert ours.pop("migrations") and ours.pop("repair_paused") is False and ours.pop("lease")
    assert ours.pop("per_host") == 1  # the earlier code placed one shard per host
    for node in ours["nodes"]:  # a version-1 drain keeps the node's slots, and says so
        assert node.pop("drain_keeps_slots", False) == (node["admin"] == "draining")
    assert ours == theirs
    restored = PlacementStateMachine()
    restored.restore(golden_snapshot)
    assert restored.cluster_map() == dataclasses.replace(sm.cluster_map(), migrations={})
    again = PlacementStateMachine()
    again.restore(restored.snapshot())  # and it is written back as version 2
    assert again.cluster_map() == restored.cluster_map()
    states = {i: n.state for i, n in restored.cluster_map().nodes.items()}
    assert states == {
        "dn-0001": NodeState.UP,
        "dn-0002": NodeState.DRAINING,
        "dn-0003": NodeState.OUT,
        "dn-0004": NodeState.DOWN,
        "dn-0006": NodeState.UP,
    }
