"""Three real placement replicas: failover, loss of quorum, full restart, and the admin CLI against them.

Fake data nodes heartbeat through PlacementClient (as real data nodes do) and create the map.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cairn.placement.client import ClusterMap, NodeAction, NodeState, PlacementClient, PlacementUnavailable
from tests.support.procs import ServiceProcess, free_port, port_open, wait_for

IDS = ("p1", "p2", "p3")
NODES = 4  # k=2 m=1 needs 3 failure domains; one more so a node can go out


class Cluster:
    def __init__(self, root: Path, processes: list[ServiceProcess]) -> None:
        self.root = root
        self.processes = processes
        self.ports = {rid: free_port() for rid in IDS}
        self.addrs = {rid: f"127.0.0.1:{port}" for rid, port in self.ports.items()}
        self.procs: dict[str, ServiceProcess] = {}

    def start(self, rid: str) -> None:
        peers = ",".join(f"{r}={a}" for r, a in self.addrs.items())
        args = [
            "--id",
            rid,
            "--data-dir",
            str(self.root / rid),
            "--port",
            str(self.ports[rid]),
            "--peers",
            peers,
            "--k",
            "2",
            "--m",
            "1",
            "--pg-count",
            "16",
            "--down-after-s",
            "60",
            "--out-after-s",
            "600",
        ]
        # a snapshot every 3 entries, so restarts recover from snapshots plus a log suffix
        env = {"CAIRN_PLACEMENT_RAFT_SNAPSHOT_THRESHOLD": "3", "CAIRN_PLACEMENT_RAFT_SNAPSHOT_LOG_RATIO": "0"}
        proc = ServiceProcess("cairn.placement", args, self.root / f"{rid}.log", env=env).start()
        self.processes.append(proc)
        self.procs[rid] = proc

    def wait_listening(self, rids: tuple[str, ...] = IDS) -> None:
        for rid in rids:
            wait_for(
                lambda r=rid: port_open(self.ports[r]),
                15,
                f"placement {rid} to listen\n"  # type: ignore[misc]
                + self.procs[rid].log_tail(),
            )

    def client(self) -> PlacementClient:
        return PlacementClient(list(self.addrs.values()))

    def admin(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "cairn",
                "admin",
                *argv,
                "--placement",
                ",".join(self.addrs.values()),
                "--timeout",
                "3",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )


async def leader_of(client: PlacementClient) -> str | None:
    leaders = [s for s in await client.replica_states(timeout=1.0) if s.role == "leader"]
    return max(leaders, key=lambda s: s.term).id if leaders else None


async def wait_leader(client: PlacementClient, timeout: float, not_: str | None = None) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader = await leader_of(client)
        if leader and leader != not_:
            return leader
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no placement leader within {timeout}s")


async def heartbeat_all(client: PlacementClient, ids: list[str | None]) -> list[str | None]:
    out: list[str | None] = []
    for i, node_id in enumerate(ids):
        try:
            reply = await client.heartbeat(
                node_id, f"127.0.0.1:{20000 + i}", f"z{i}", "r0", f"host{i}", 10**12, 10**9, timeout=2.0
            )
            out.append(reply.node_id)
        except PlacementUnavailable:
            out.append(node_id)
    return out


@pytest.fixture
def cluster(tmp_path: Path, processes: list[ServiceProcess]) -> Cluster:
    c = Cluster(tmp_path, processes)
    for rid in IDS:
        c.start(rid)
    c.wait_listening()
    return c


async def test_failover_quorum_loss_and_full_restart(cluster: Cluster) -> None:
    client = cluster.client()
    try:
        leader = await wait_leader(client, 15)
        ids: list[str | None] = [None] * NODES
        deadline = time.monotonic() + 15
        cmap: ClusterMap | None = None
        while time.monotonic() < deadline:
            ids = await heartbeat_all(client, ids)
            cmap = await client.cluster_map()
            if cmap.created and len(cmap.nodes) == NODES:
                break
            await asyncio.sleep(0.2)
        assert cmap is not None and cmap.created and sorted(cmap.nodes) == [f"dn-000{i}" for i in range(1, 5)]

        status = cluster.admin("cluster", "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["leader"] == leader

        # kill -9 the leader: a new one serves the map (and takes changes) within 10 s
        seen_epoch = cmap.epoch
        cluster.procs[leader].kill9()
        killed_at = time.monotonic()
        new_leader = await wait_leader(client, 10, not_=leader)
        epoch = await client.node_command("dn-0004", NodeAction.DRAIN, timeout=10)
        elected_in = time.monotonic() - killed_at
        assert elected_in < 10, f"new leader took {elected_in:.1f}s"
        print(f"leader {leader} killed: {new_leader} committed a change {elected_in:.2f}s later")
        after = await client.cluster_map(min_epoch=epoch)
        assert after.epoch > seen_epoch and after.nodes["dn-0004"].state is NodeState.DRAINING
        # draining moves its slots away; it stays listed as the holder of each until synced
        assert not any("dn-0004" in row for row in after.pgs)
        moved = [
            (pg, slot) for pg, row in enumerate(cmap.pgs) for slot, n in enumerate(row) if n == "dn-0004"
        ]
        assert moved and all("dn-0004" in after.holders_of(pg, slot) for pg, slot in moved)

        # kill 2 of 3: changes are refused with a clear error, reads of the last map still work
        await wait_applied(client, after.epoch, 10)
        cluster.procs[new_leader].kill9()
        survivor = next(r for r in IDS if r not in (leader, new_leader))
        await wait_no_leader(cluster.addrs[survivor], 15)
        with pytest.raises(PlacementUnavailable):
            await client.node_command("dn-0004", NodeAction.OUT, timeout=2)
        refused = cluster.admin("node", "out", "dn-0004")
        assert (
            refused.returncode != 0 and "leader" in refused.stderr and len(refused.stderr.splitlines()) == 1
        )
        reader = PlacementClient([cluster.addrs[survivor]])
        stale = await reader.cluster_map()
        await reader.close()
        assert stale.epoch == after.epoch and stale.pgs == after.pgs
        nodes = cluster.admin("nodes", "--json")
        assert nodes.returncode == 0 and json.loads(nodes.stdout)["epoch"] == after.epoch
        no_leader = cluster.admin("cluster", "status", "--json")
        assert no_leader.returncode != 0 and json.loads(no_leader.stdout)["leader"] is None

        # restart all three: the same map comes back
        cluster.procs[survivor].stop()
        for rid in IDS:
            cluster.start(rid)
        cluster.wait_listening()
        await wait_leader(client, 15)
        fresh = PlacementClient(list(cluster.addrs.values()))
        back = await fresh.cluster_map(min_epoch=after.epoch, wait_s=10)
        await fresh.close()
        assert (back.epoch, back.pgs, back.k, back.m) == (after.epoch, after.pgs, after.k, after.m)
        assert {i: n.state for i, n in back.nodes.items()} == {i: n.state for i, n in after.nodes.items()}

        # a map change works again
        epoch = await client.node_command("dn-0004", NodeAction.IN, timeout=10)
        assert epoch == after.epoch + 1
    finally:
        await client.close()


async def wait_applied(client: PlacementClient, epoch: int, timeout: float) -> None:
    """Wait until every reachable replica has applied the map of `epoch`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(s.epoch >= epoch for s in await client.replica_states(timeout=1.0) if s.reachable):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"replicas did not apply epoch {epoch} within {timeout}s")


async def wait_no_leader(addr: str, timeout: float) -> None:
    """Wait until the replica at `addr` no longer claims to lead (it lost its quorum)."""
    client = PlacementClient([addr])
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            (state,) = await client.replica_states(timeout=1.0)
            if state.reachable and state.role != "leader":
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{addr} still claims leadership after {timeout}s")
    finally:
        await client.close()


def test_admin_cli_reports_an_unreachable_cluster() -> None:
    dead = ",".join(f"127.0.0.1:{free_port()}" for _ in IDS)
    for argv in (["cluster", "status"], ["nodes"], ["node", "drain", "dn-0001"]):
        result = subprocess.run(
            [sys.executable, "-m", "cairn", "admin", *argv, "--placement", dead],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 3, result.stderr
        assert "unreachable" in result.stderr and len(result.stderr.splitlines()) == 1
