"""Crash durability of RaftNode across real processes: kill -9 must never lose an acknowledged write.

Three replica processes (this module run with `--replica`: a RaftNode with a key/value machine
and a bench-style generic gRPC method for Put / Get / Status) take concurrent writes; the leader
is killed with SIGKILL in the middle, writes continue on the new leader, then every replica is
killed at once and restarted. Every write that was acknowledged must read back (through a
linearizable read on the leader), and every replica must converge on the same state.

With lease reads: a leader paused (SIGSTOP) past the election timeout, while the others elect a
new leader and commit, must not answer a read from its old lease when it resumes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from pathlib import Path

import grpc
import grpc.aio
import pytest

from cairn import rpc
from cairn.raft.node import RaftConfig, RaftNode
from cairn.replication import NoQuorum, NotLeader, ReplicationError
from tests.support.procs import ServiceProcess, free_port

SERVICE = "cairn.raft.test.KV"
MODULE = "tests.integration.test_raft_process"

#: The test service's errors: a replica that is not the leader, or cannot reach a quorum or be
#: reached, is "try again elsewhere" to the writer.
ERRORS = rpc.ErrorTable(
    {NotLeader: grpc.StatusCode.UNAVAILABLE, NoQuorum: grpc.StatusCode.UNAVAILABLE},
    unavailable=NoQuorum,
    internal=ReplicationError,
    # NotLeader takes the leader's id and address, not a message (the writer only retries).
    decode=lambda cls, message, trailers: NotLeader(None, None) if cls is NotLeader else cls(message),
)


class KV:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def apply(self, index: int, command: bytes) -> bytes:
        key, _, value = command.decode().partition("=")
        self.data[key] = value
        return b"ok"

    def snapshot(self) -> bytes:
        return json.dumps(self.data).encode()

    def restore(self, data: bytes) -> None:
        self.data = json.loads(data)


class KVService:
    """Put (a proposal) and Dump (the state, after a read barrier when asked) of one replica."""

    def __init__(self, node: RaftNode, machine: KV) -> None:
        self.node = node
        self.machine = machine

    @rpc.edge(ERRORS)
    async def put(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return await self.node.propose(request, timeout=3.0)

    @rpc.edge(ERRORS)
    async def dump(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if request == b"linearizable":
            await self.node.read_barrier(timeout=3.0)
        return json.dumps({"role": self.node.status().role, "data": self.machine.data}).encode()


async def serve_replica(node_id: str, peers: dict[str, str], data_dir: Path, lease: bool = False) -> None:
    machine = KV()
    config = RaftConfig(
        tick_s=0.05, election_ticks=10, snapshot_threshold=40, snapshot_log_ratio=0, lease_reads=lease
    )
    node = RaftNode(node_id, peers, data_dir, machine, config)
    kv = KVService(node, machine)
    server = rpc.server()
    node.add_to_server(server)
    handlers = {
        "Put": grpc.unary_unary_rpc_method_handler(kv.put),
        "Dump": grpc.unary_unary_rpc_method_handler(kv.dump),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(peers[node_id])
    await server.start()
    await node.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await node.stop()
    await server.stop(grace=1.0)


class Group:
    def __init__(self, tmp: Path, processes: list[ServiceProcess], lease: bool = False) -> None:
        self.tmp = tmp
        self.lease = lease
        self.processes = processes
        self.peers = {f"r{i}": f"127.0.0.1:{free_port()}" for i in (1, 2, 3)}
        self.procs: dict[str, ServiceProcess] = {}
        self.channels = {r: rpc.channel(a) for r, a in self.peers.items()}
        self.current: str | None = None  # the leader writes go to

    def start(self, rid: str) -> None:
        spec = ",".join(f"{k}={v}" for k, v in self.peers.items())
        args = ["--replica", rid, "--peers", spec, "--data-dir", str(self.tmp / rid)]
        args += ["--lease"] if self.lease else []
        proc = ServiceProcess(MODULE, args, self.tmp / f"{rid}.log").start()
        self.procs[rid] = proc
        self.processes.append(proc)

    async def dump(self, rid: str, linearizable: bool = False) -> dict[str, object] | None:
        call = self.channels[rid].unary_unary(f"/{SERVICE}/Dump")
        try:
            with ERRORS.translated():
                reply = await call(b"linearizable" if linearizable else b"", timeout=4.0)
        except ReplicationError:
            return None
        return json.loads(reply)  # type: ignore[no-any-return]

    async def leader(self, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rid in self.peers:
                if self.procs[rid].alive():
                    state = await self.dump(rid)
                    if state is not None and state["role"] == "leader":
                        return rid
            await asyncio.sleep(0.05)
        logs = "\n".join(p.log_tail(10) for p in self.procs.values())
        raise AssertionError(f"no leader within {timeout}s\n{logs}")

    async def put(self, key: str, value: str, deadline: float) -> bool:
        """True once acknowledged; False if it could not be (then its fate is unknown)."""
        while time.monotonic() < deadline:
            try:
                if self.current is None:
                    self.current = await self.leader(timeout=max(0.1, deadline - time.monotonic()))
                call = self.channels[self.current].unary_unary(f"/{SERVICE}/Put")
                with ERRORS.translated():
                    await call(f"{key}={value}".encode(), timeout=3.0)
                return True
            except (ReplicationError, AssertionError):
                self.current = None
                await asyncio.sleep(0.05)
        return False


@pytest.mark.timeout(120)
async def test_kill9_never_loses_an_acknowledged_write(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    group = Group(tmp_path, processes)
    for rid in group.peers:
        group.start(rid)
    acked: dict[str, str] = {}
    deadline = time.monotonic() + 60

    async def writer(w: int, count: int) -> None:
        for n in range(count):
            key, value = f"w{w}-{n}", f"v{n}"
            if await group.put(key, value, deadline):
                acked[key] = value

    first = asyncio.gather(*(writer(w, 40) for w in range(4)))
    await asyncio.sleep(0.8)
    old = await group.leader()
    group.procs[old].kill9()  # mid-load
    await first
    await asyncio.gather(*(writer(w, 20) for w in range(4, 6)))
    group.start(old)
    await asyncio.sleep(0.5)

    for proc in group.procs.values():
        proc.kill9()  # crash everyone at once
    for rid in group.peers:
        group.start(rid)
    await group.leader()
    state = None
    for _ in range(100):
        state = await group.dump(await group.leader(), linearizable=True)
        if state is not None:
            break
        await asyncio.sleep(0.1)
    assert state is not None
    data = state["data"]
    assert isinstance(data, dict)
    assert len(acked) >= 150  # the load really ran through the failover
    missing = {k: v for k, v in acked.items() if data.get(k) != v}
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"

    # The followers converge on the same state (eventually, through the log or a snapshot).
    for _ in range(100):
        dumps = [await group.dump(rid) for rid in group.peers]
        if all(d is not None and d["data"] == data for d in dumps):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("replicas did not converge after the restart")


@pytest.mark.timeout(120)
async def test_a_paused_leader_does_not_read_from_its_old_lease(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    group = Group(tmp_path, processes, lease=True)
    for rid in group.peers:
        group.start(rid)
    deadline = time.monotonic() + 60
    assert await group.put("k", "before", deadline)
    state = None
    for _ in range(100):  # (a first election may still be settling)
        old = await group.leader()
        state = await group.dump(old, linearizable=True)
        if state is not None:
            break
        await asyncio.sleep(0.1)
    assert state is not None and state["data"] == {"k": "before"}

    os.kill(group.procs[old].pid, signal.SIGSTOP)
    try:
        group.current = None
        others = [r for r in group.peers if r != old]
        new = None
        while new is None and time.monotonic() < deadline:  # the others elect a new leader
            for rid in others:
                got = await group.dump(rid)
                if got is not None and got["role"] == "leader":
                    new = rid
            await asyncio.sleep(0.05)
        assert new is not None
        group.current = new
        assert await group.put("k", "after", deadline)
        # A read reaches the paused replica, then it resumes: its ticks say its lease still
        # holds, but the clock moved on; it must not answer from its stale state.
        read = asyncio.ensure_future(group.dump(old, linearizable=True))
        await asyncio.sleep(0.3)
    finally:
        os.kill(group.procs[old].pid, signal.SIGCONT)
    state = await read
    assert state is None or state["data"] == {"k": "after"}, state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replica", required=True)
    parser.add_argument("--peers", required=True)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--lease", action="store_true", help="lease reads on")
    args = parser.parse_args()
    peers = dict(p.split("=", 1) for p in args.peers.split(","))
    asyncio.run(serve_replica(args.replica, peers, args.data_dir, args.lease))


if __name__ == "__main__":
    main()
