"""Three real RaftNode replicas in one process, on free 127.0.0.1 ports, over real gRPC and disks.

A tiny key/value state machine (JSON commands; applying returns the key's previous value) checks
what a service would see: results reach the proposer, every replica applies the same state, a
follower redirects to the leader, a stopped leader is replaced and commits continue, a replica
that fell behind the compacted log catches up by snapshot, a full restart brings the same
state back from the logs and snapshots, and a damaged log record keeps the replica from starting.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc.aio
import pytest

from cairn import rpc
from cairn.raft.node import RaftConfig, RaftNode
from cairn.raft.wal import CorruptFile
from cairn.replication import NoQuorum, NotLeader
from tests.support.procs import free_port


class KV:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.applied = 0

    def apply(self, index: int, command: bytes) -> bytes:
        cmd = json.loads(command)
        old = self.data.get(cmd["k"], "")
        self.data[cmd["k"]] = cmd["v"]
        self.applied = index
        return old.encode()

    def snapshot(self) -> bytes:
        return json.dumps({"data": self.data, "applied": self.applied}).encode()

    def restore(self, data: bytes) -> None:
        state = json.loads(data)
        self.data = state["data"]
        self.applied = state["applied"]


def put(key: str, value: str) -> bytes:
    return json.dumps({"k": key, "v": value}).encode()


class Replica:
    def __init__(self, node_id: str, peers: dict[str, str], data_dir: Path, config: RaftConfig) -> None:
        self.id = node_id
        self.peers = peers
        self.data_dir = data_dir
        self.config = config
        self.kv = KV()
        self.node: RaftNode | None = None
        self.server: grpc.aio.Server | None = None

    async def start(self) -> None:
        self.kv = KV()
        self.node = RaftNode(self.id, self.peers, self.data_dir, self.kv, self.config)
        self.server = rpc.server()
        self.node.add_to_server(self.server)
        self.server.add_insecure_port(self.peers[self.id])
        await self.server.start()
        await self.node.start()

    async def stop(self) -> None:
        if self.node is not None:
            await self.node.stop()
        if self.server is not None:
            await self.server.stop(grace=None)
        self.node = None
        self.server = None


async def wait_leader(replicas: list[Replica], timeout: float = 10.0) -> Replica:
    """The replica that leads (and whose leadership the others accept), waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in replicas:
            if r.node is not None and r.node.status().role == "leader":
                return r
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no leader within {timeout}s")


async def propose(replicas: list[Replica], command: bytes, timeout: float = 10.0) -> bytes:
    """Propose through whichever replica leads, following NotLeader redirects."""
    deadline = time.monotonic() + timeout
    target = await wait_leader(replicas, timeout)
    while True:
        try:
            if target.node is None:
                raise NotLeader(None, None)
            return await target.node.propose(command, timeout=max(0.1, deadline - time.monotonic()))
        except NotLeader as exc:
            if time.monotonic() > deadline:
                raise
            by_id = {r.id: r for r in replicas}
            known = by_id.get(exc.leader_id or "")
            target = known if known is not None and known.node is not None else await wait_leader(replicas)
            await asyncio.sleep(0.01)


def make_cluster(tmp_path: Path, snapshot_threshold: int = 10_000) -> list[Replica]:
    ids = ["r1", "r2", "r3"]
    peers = {i: f"127.0.0.1:{free_port()}" for i in ids}
    config = RaftConfig(
        tick_s=0.05,
        election_ticks=10,
        snapshot_threshold=snapshot_threshold,
        snapshot_log_ratio=0,  # every `snapshot_threshold` entries, however small the log
        rpc_timeout_s=1.0,
    )
    return [Replica(i, peers, tmp_path / i, config) for i in ids]


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def wait_applied(replicas: list[Replica], expected: dict[str, str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(r.kv.data == expected for r in replicas if r.node is not None):
            return
        await asyncio.sleep(0.02)
    states = {r.id: len(r.kv.data) for r in replicas}
    raise AssertionError(f"replicas did not converge on {len(expected)} keys: {states}")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[list[Replica]]:
    replicas = make_cluster(tmp_path, snapshot_threshold=25)
    try:
        yield replicas
    finally:
        for r in replicas:
            await r.stop()


async def test_commits_apply_everywhere_survive_leader_loss_and_full_restart(cluster: list[Replica]) -> None:
    for r in cluster:
        await r.start()
    expected: dict[str, str] = {}
    for i in range(20):
        old = await propose(cluster, put(f"k{i % 7}", f"v{i}"))
        assert old == expected.get(f"k{i % 7}", "").encode()  # the proposer gets its own result
        expected[f"k{i % 7}"] = f"v{i}"
    await wait_applied(cluster, expected)

    leader = await wait_leader(cluster)
    follower = next(r for r in cluster if r is not leader)
    assert follower.node is not None and leader.node is not None
    with pytest.raises(NotLeader) as info:
        await follower.node.propose(put("x", "y"), timeout=2.0)
    assert info.value.leader_id == leader.id
    assert info.value.leader_addr == leader.peers[leader.id]
    with pytest.raises(NotLeader):
        await follower.node.read_barrier(timeout=2.0)
    await leader.node.read_barrier(timeout=2.0)
    status = leader.node.status()
    assert status.role == "leader" and status.leader_id == leader.id
    assert all(p.reachable for p in status.peers)
    assert [p.id for p in status.peers] == ["r1", "r2", "r3"]
    assert {p.id: p.match_index for p in status.peers}[leader.id] == status.commit_index
    node = follower.node
    await wait_until(
        lambda: all(p.reachable for p in node.status().peers), 3.0, "a follower to see every peer reachable"
    )

    # Stop the leader: the other two elect a new one and keep committing, past a snapshot.
    await leader.stop()
    survivors = [r for r in cluster if r is not leader]
    new_leader = await wait_leader(survivors, timeout=10.0)
    assert new_leader is not leader
    for i in range(40):
        await propose(survivors, put(f"k{i % 11}", f"w{i}"))
        expected[f"k{i % 11}"] = f"w{i}"
    await wait_applied(survivors, expected)
    assert new_leader.node is not None
    await new_leader.node.read_barrier(timeout=2.0)

    # The old leader returns behind the compacted log and catches up (by snapshot).
    await leader.start()
    await wait_applied(cluster, expected)

    # Restart everything: the same state comes back from logs and snapshots.
    for r in cluster:
        await r.stop()
    assert any((r.data_dir / "snapshot").exists() for r in cluster)
    for r in cluster:
        await r.start()
    await wait_applied(cluster, expected)
    await propose(cluster, put("after", "restart"))
    expected["after"] = "restart"
    await wait_applied(cluster, expected)


async def test_no_quorum_when_two_of_three_are_down(cluster: list[Replica]) -> None:
    for r in cluster:
        await r.start()
    await propose(cluster, put("a", "1"))
    leader = await wait_leader(cluster)
    for r in cluster:
        if r is not leader:
            await r.stop()
    assert leader.node is not None
    with pytest.raises((NoQuorum, NotLeader)):
        await leader.node.propose(put("b", "2"), timeout=1.0)
    # check-quorum: without a majority the old leader steps down within an election timeout
    node = leader.node
    await wait_until(lambda: node.status().role != "leader", 5.0, "the isolated leader to step down")
    assert leader.kv.data == {"a": "1"}


async def test_a_one_replica_group_leads_at_once_and_recovers(tmp_path: Path) -> None:
    peers = {"solo": f"127.0.0.1:{free_port()}"}
    config = RaftConfig(tick_s=0.05, snapshot_threshold=5, snapshot_log_ratio=0)
    replica = Replica("solo", peers, tmp_path / "solo", config)
    try:
        await replica.start()
        assert replica.node is not None
        for i in range(12):
            await replica.node.propose(put(f"k{i}", "v"), timeout=5.0)
        await replica.node.read_barrier(timeout=5.0)
        await replica.stop()
        await replica.start()
        await wait_applied([replica], {f"k{i}": "v" for i in range(12)})
    finally:
        await replica.stop()


async def test_a_disk_failure_stops_the_replica_instead_of_acknowledging(tmp_path: Path) -> None:
    peers = {"solo": f"127.0.0.1:{free_port()}"}
    replica = Replica("solo", peers, tmp_path / "solo", RaftConfig(tick_s=0.05))
    try:
        await replica.start()
        assert replica.node is not None
        await replica.node.propose(put("a", "1"), timeout=5.0)
        store = replica.node._store  # the one seam to inject a failing disk

        def broken(*args: object) -> None:
            raise OSError(5, "Input/output error")

        store.save = broken  # type: ignore[method-assign]
        with pytest.raises(NoQuorum):
            await replica.node.propose(put("b", "2"), timeout=5.0)
        with pytest.raises(NoQuorum, match="failed"):
            await replica.node.propose(put("c", "3"), timeout=5.0)
        assert replica.kv.data == {"a": "1"}
    finally:
        await replica.stop()


async def test_a_damaged_log_record_refuses_to_start_and_keeps_the_file(tmp_path: Path) -> None:
    peers = {"solo": f"127.0.0.1:{free_port()}"}
    replica = Replica("solo", peers, tmp_path / "solo", RaftConfig(tick_s=0.05))
    try:
        await replica.start()
        assert replica.node is not None
        await replica.node.propose(put("a", "1"), timeout=5.0)
        await replica.stop()
        wal = tmp_path / "solo" / "raft.wal"
        raw = bytearray(wal.read_bytes())
        first = 12 + 8 + int.from_bytes(raw[12:16], "big")  # the second record: not the last one
        assert first < len(raw) - 40
        raw[first + 12] ^= 0x10
        wal.write_bytes(bytes(raw))
        with pytest.raises(CorruptFile, match=r"raft\.wal: damaged record .* refusing to start"):
            await replica.start()
        assert wal.read_bytes() == bytes(raw)
        assert not [t for t in threading.enumerate() if t.name.startswith("raft-solo")]
    finally:
        await replica.stop()


async def test_a_proposal_stuck_behind_a_hung_disk_fails_at_its_deadline(tmp_path: Path) -> None:
    peers = {"solo": f"127.0.0.1:{free_port()}"}
    replica = Replica("solo", peers, tmp_path / "solo", RaftConfig(tick_s=0.05))
    release = threading.Event()
    try:
        await replica.start()
        assert replica.node is not None
        await replica.node.propose(put("a", "1"), timeout=5.0)
        store = replica.node._store  # the one seam to inject a hanging disk
        save = store.save

        def hung(*args: object) -> None:
            release.wait(30.0)
            save(*args)  # type: ignore[arg-type]

        store.save = hung  # type: ignore[method-assign]
        started = time.monotonic()
        with pytest.raises(NoQuorum, match="within 0.5s"):
            await replica.node.propose(put("b", "2"), timeout=0.5)
        assert time.monotonic() - started < 5.0  # not the 30 s the disk hangs
    finally:
        release.set()
        await replica.stop()


def _snapshot_index(data_dir: Path) -> int:
    """The index of the snapshot in force on disk (`snap-<index>-<term>/`), 0 without one."""
    return max((int(p.name.split("-")[1]) for p in data_dir.rglob("snap-*")), default=0)


@pytest.mark.parametrize("ratio, cap", [(1.0, 64 << 20), (1000.0, 30_000)])
async def test_a_snapshot_waits_for_as_much_log_as_the_state_it_copies(
    tmp_path: Path, ratio: float, cap: int
) -> None:
    """A snapshot copies the whole state: past `snapshot_threshold` entries, the next one also
    waits until the log since the last holds `snapshot_log_ratio` times the last snapshot's
    bytes, or `snapshot_max_log_bytes`."""
    peers = {"solo": f"127.0.0.1:{free_port()}"}
    config = RaftConfig(
        tick_s=0.05, snapshot_threshold=5, snapshot_log_ratio=ratio, snapshot_max_log_bytes=cap
    )
    replica = Replica("solo", peers, tmp_path / "solo", config)
    try:
        await replica.start()
        node = replica.node
        assert node is not None
        await node.propose(put("big", "x" * 20_000), timeout=5.0)
        for i in range(5):
            await node.propose(put(f"k{i}", "v"), timeout=5.0)
        # the first snapshot has no last one to weigh against: it follows the entry count
        await wait_until(lambda: _snapshot_index(tmp_path) > 0, 5.0, "the first snapshot")
        first = _snapshot_index(tmp_path)
        for i in range(40):  # eight times the threshold, about 1 KiB: far less than the 20 KB state
            await node.propose(put(f"s{i}", "v"), timeout=5.0)
        await asyncio.sleep(0.5)
        assert _snapshot_index(tmp_path) == first
        await node.propose(put("big2", "y" * 20_000), timeout=5.0)
        if ratio == 1.0:  # as many bytes of log as the state: the next snapshot
            await wait_until(lambda: _snapshot_index(tmp_path) > first, 5.0, "the next snapshot")
        else:  # 21 KB of log: below the 30 KB cap, far below 1000x the state
            await asyncio.sleep(0.5)
            assert _snapshot_index(tmp_path) == first
            await node.propose(put("big3", "z" * 20_000), timeout=5.0)
            await wait_until(lambda: _snapshot_index(tmp_path) > first, 5.0, "a snapshot at the cap")
        expected = dict(replica.kv.data)
        assert len(expected) == 47 + (ratio != 1.0)
        await replica.stop()
        await replica.start()  # and the state comes back from the snapshot and the log
        await wait_applied([replica], expected)
    finally:
        await replica.stop()
