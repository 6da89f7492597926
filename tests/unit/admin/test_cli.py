"""`cairn admin` against an in-process one-replica placement service (run in a background thread)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.cli import main
from cairn.placement import rpc_server
from cairn.placement.client import PlacementClient
from cairn.placement.config import PlacementConfig
from cairn.placement.service import PlacementService
from cairn.placement.state_machine import PlacementStateMachine
from cairn.replication import SingleNodeReplicator
from cairn.rpc import server as grpc_server
from tests.support.procs import free_port


class Background:
    """A placement service on its own event loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.addr = ""
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.loop.run_forever()

    async def _start(self) -> None:
        machine = PlacementStateMachine()
        service = PlacementService(
            PlacementConfig(k=2, m=1, pg_count=8), machine, SingleNodeReplicator(machine, "p1"), {}
        )
        self.server = grpc_server()
        rpc_server.add_to_server(self.server, service)
        self.addr = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        service.peers["p1"] = self.addr
        await self.server.start()
        self.ready.set()

    def call(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.call(self.server.stop(None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Background]:
    bg = Background()

    async def heartbeats() -> None:
        client = PlacementClient([bg.addr])
        for i in range(4):
            await client.heartbeat(
                None, f"127.0.0.1:{9100 + i}", f"z{i % 2}", f"r{i}", f"h{i}", 2**40, 2**30 * i
            )
        await client.close()

    bg.call(heartbeats())
    yield bg
    bg.stop()


def admin(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["admin", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_status_json_names_the_leader_and_pg_tolerance(
    cluster: Background, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = admin(capsys, "cluster", "status", "--json", "--placement", cluster.addr)
    doc = json.loads(out)
    assert code == 0 and doc["leader"] == "p1" and doc["map_created"] is True
    assert doc["nodes"] == {"total": 4, "up": 4, "down": 0, "out": 0, "draining": 0}
    assert doc["pgs"]["count"] == 8 and doc["pgs"]["min_failures_tolerated"] == 1  # k=2 of 3 slots up


def test_status_table(cluster: Background, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = admin(capsys, "cluster", "status", "--placement", cluster.addr)
    assert code == 0
    assert "leader:    p1" in out and "every PG can absorb at least 1 more node failure" in out


def test_nodes_and_pgs_tables_and_json(cluster: Background, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = admin(capsys, "nodes", "--placement", cluster.addr)
    assert code == 0 and re.search(
        r"^z0\s+r0\s+h0\s+dn-0001\s+127.0.0.1:9100\s+up\s+0 B / 1.0 TiB", out, re.M
    )
    code, out, _ = admin(capsys, "nodes", "--json", "--placement", cluster.addr)
    nodes = json.loads(out)["nodes"]
    assert [n["id"] for n in nodes] == ["dn-0001", "dn-0003", "dn-0002", "dn-0004"]  # grouped by zone
    code, out, _ = admin(capsys, "pgs", "--json", "--placement", cluster.addr)
    doc = json.loads(out)
    assert sum(doc["per_node"].values()) == 8 * 3 and doc["degraded"] == []


def test_node_commands_change_state_and_unknown_ids_are_refused(
    cluster: Background, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = admin(capsys, "node", "drain", "dn-0004", "--json", "--placement", cluster.addr)
    assert code == 0 and json.loads(out)["state"] == "draining"
    code, out, _ = admin(capsys, "node", "in", "dn-0004", "--placement", cluster.addr)
    assert code == 0 and "node dn-0004: up" in out
    code, _, err = admin(capsys, "node", "out", "dn-0999", "--placement", cluster.addr)
    assert code == 1 and "NodeNotFound" in err and len(err.strip().splitlines()) == 1


def test_a_drained_node_holds_its_slots_data_until_synced_and_remove_is_refused(
    cluster: Background, capsys: pytest.CaptureFixture[str]
) -> None:
    # dn-0001 was in the map when it was created, so it is the verified holder of its slots
    code, out, _ = admin(capsys, "node", "drain", "dn-0001", "--json", "--placement", cluster.addr)
    drained = json.loads(out)
    assert code == 0 and drained["state"] == "draining" and drained["slots_held"] > 0
    code, out, _ = admin(capsys, "cluster", "status", "--json", "--placement", cluster.addr)
    pgs = json.loads(out)["pgs"]
    # its slots moved, but it still serves their data: no redundancy lost, the moves are listed
    assert pgs["slots_migrating"] >= drained["slots_held"] and pgs["min_failures_tolerated"] == 1
    code, _, err = admin(capsys, "node", "remove", "dn-0001", "--placement", cluster.addr)
    assert code == 1 and "NodeHoldsData" in err
    code, out, _ = admin(capsys, "node", "in", "dn-0001", "--placement", cluster.addr)
    assert code == 0 and "node dn-0001: up" in out


def test_cluster_found_through_cluster_json(
    cluster: Background, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = {
        "processes": [
            {"role": "placement", "id": "p1", "pid": 1, "addr": cluster.addr, "data_dir": "x"},
            {"role": "datanode", "id": "dn1", "pid": 2, "addr": "127.0.0.1:1", "data_dir": "y"},
        ]
    }
    (tmp_path / "cluster.json").write_text(json.dumps(doc))
    monkeypatch.setenv("CAIRN_DATA_DIR", str(tmp_path))
    code, out, _ = admin(capsys, "cluster", "status", "--json")
    assert code == 0 and json.loads(out)["leader"] == "p1"


def test_no_cluster_json_and_unreachable_cluster_fail_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = admin(capsys, "nodes", "--data-dir", str(tmp_path))
    assert code == 2 and "cluster.json" in err and len(err.strip().splitlines()) == 1
    dead = f"127.0.0.1:{free_port()}"
    for argv in (("cluster", "status"), ("nodes",), ("node", "out", "dn-0001")):
        code, _, err = admin(capsys, *argv, "--placement", dead, "--timeout", "1")
        assert code == 3 and ("unreachable" in err or "unavailable" in err), err
        assert len(err.strip().splitlines()) == 1


def test_status_before_creation_says_how_many_domains_are_missing(capsys: pytest.CaptureFixture[str]) -> None:
    bg = Background()  # a fresh service; two hosts heartbeat, three are needed (k=2 m=1)

    async def two_nodes() -> None:
        client = PlacementClient([bg.addr])
        for i in range(2):
            await client.heartbeat(None, f"127.0.0.1:{9200 + i}", "z", "r", f"h{i}", 2**40, 0)
        await client.close()

    try:
        bg.call(two_nodes())
        code, out, _ = admin(capsys, "cluster", "status", "--placement", bg.addr)
        assert code == 0 and "none yet: 2 failure domain(s) (distinct hosts) up, 3 needed" in out
        code, out, _ = admin(capsys, "cluster", "status", "--json", "--placement", bg.addr)
        doc = json.loads(out)
        assert (doc["map_created"], doc["failure_domains_up"], doc["failure_domains_needed"]) == (False, 2, 3)
        code, _, err = admin(capsys, "cluster", "create", "--placement", bg.addr)
        assert code == 1 and "InsufficientDomains" in err and "2 failure domain(s)" in err
    finally:
        bg.stop()
