#!/usr/bin/env python3
"""Benchmark a 3-replica Raft group: 3 separate replica processes on 127.0.0.1, real disks.

    .venv/bin/python benchmarks/raft_bench.py [--seconds 5] [--concurrency 32] [--failovers 3]

Each replica process runs a RaftNode (default RaftConfig: 100 ms ticks, 1-2 s election timeout)
with a small key/value state machine, plus bench-only gRPC methods (generic handlers, raw bytes,
errors through `BENCH_ERRORS` as in every service) that propose a command and return the
leader-side commit latency. The driver process measures:

- sequential commits/s and commit latency (p50/p99), one proposal at a time;
- commits/s and latency with `--concurrency` proposals in flight;
- the same load issued inside the leader process (no client hop: the group's own capacity),
  at 1, `--concurrency` and 4x `--concurrency` proposals in flight;
- failover: kill -9 the leader, time until a surviving replica reports itself leader, and until
  a proposal commits again; the killed replica is restarted and caught up between rounds.

Latency is reported twice: as the client sees it (one extra local gRPC hop to the leader) and
inside the leader (propose() call to apply result). Every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import grpc.aio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cairn import rpc  # noqa: E402
from cairn.raft.node import RaftConfig, RaftNode  # noqa: E402
from cairn.replication import NoQuorum, NotLeader, ReplicationError  # noqa: E402
from tests.support.procs import free_port  # noqa: E402

SERVICE = "cairn.raft.bench.Bench"

#: The bench service's errors; a replica that cannot be reached is NoQuorum to the driver.
BENCH_ERRORS = rpc.ErrorTable(
    {NotLeader: grpc.StatusCode.FAILED_PRECONDITION, NoQuorum: grpc.StatusCode.UNAVAILABLE},
    unavailable=NoQuorum,
    internal=ReplicationError,
)


class KV:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def apply(self, index: int, command: bytes) -> bytes:
        key, _, value = command.partition(b"=")
        old = self.data.get(key.decode(), b"")
        self.data[key.decode()] = value
        return old

    def snapshot(self) -> bytes:
        return json.dumps({k: v.decode() for k, v in self.data.items()}).encode()

    def restore(self, data: bytes) -> None:
        self.data = {k: v.encode() for k, v in json.loads(data).items()}


# ------------------------------------------------------------------ replica process


class Bench:
    """The bench-only methods of one replica process."""

    def __init__(self, node: RaftNode) -> None:
        self.node = node

    @rpc.edge(BENCH_ERRORS)
    async def propose(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        start = time.perf_counter_ns()
        await self.node.propose(request, timeout=5.0)
        return (time.perf_counter_ns() - start).to_bytes(8, "big")

    @rpc.edge(BENCH_ERRORS)
    async def local_load(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """Proposals issued inside the leader process: the group's capacity without client hops."""
        node = self.node
        spec = json.loads(request)
        latencies: list[float] = []
        deadline = time.monotonic() + float(spec["seconds"])

        async def worker(w: int) -> None:
            n = 0
            while time.monotonic() < deadline and n < 1_000_000:
                start = time.perf_counter()
                await node.propose(b"L%d-%d=v%d" % (w, n % 100, n), timeout=5.0)
                latencies.append(time.perf_counter() - start)
                n += 1

        began = time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(int(spec["concurrency"]))))
        elapsed = time.monotonic() - began
        return json.dumps(
            {
                "concurrency": spec["concurrency"],
                "commits": len(latencies),
                "commits_per_s": len(latencies) / elapsed,
                "leader_p50_ms": pct(latencies, 0.50) * 1e3,
                "leader_p99_ms": pct(latencies, 0.99) * 1e3,
            }
        ).encode()

    @rpc.edge(BENCH_ERRORS)
    async def status(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        s = self.node.status()
        return json.dumps(
            {"role": s.role, "term": s.term, "leader": s.leader_id, "applied": s.applied_index}
        ).encode()


async def serve_replica(node_id: str, peers: dict[str, str], data_dir: Path) -> None:
    node = RaftNode(node_id, peers, data_dir, KV(), RaftConfig())
    bench = Bench(node)
    server = rpc.server()
    node.add_to_server(server)
    handlers = {
        "Propose": grpc.unary_unary_rpc_method_handler(bench.propose),
        "Status": grpc.unary_unary_rpc_method_handler(bench.status),
        "LocalLoad": grpc.unary_unary_rpc_method_handler(bench.local_load),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(peers[node_id])
    await server.start()
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await node.stop()
    await server.stop(grace=1.0)


# -------------------------------------------------------------------- driver


class Cluster:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.peers = {f"r{i}": f"127.0.0.1:{free_port()}" for i in (1, 2, 3)}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.channels = {r: rpc.channel(addr) for r, addr in self.peers.items()}

    def start(self, node_id: str) -> None:
        spec = ",".join(f"{k}={v}" for k, v in self.peers.items())
        log = open(self.base / f"{node_id}.log", "ab")  # noqa: SIM115 - handed to the child
        self.procs[node_id] = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--replica",
                node_id,
                "--peers",
                spec,
                "--data-dir",
                str(self.base / node_id),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def kill9(self, node_id: str) -> None:
        proc = self.procs[node_id]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    async def status(self, node_id: str) -> dict[str, object] | None:
        call = self.channels[node_id].unary_unary(f"/{SERVICE}/Status")
        try:
            with BENCH_ERRORS.translated():
                return json.loads(await call(b"", timeout=0.5))  # type: ignore[no-any-return]
        except ReplicationError:
            return None

    async def leader(self, among: list[str], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node_id in among:
                s = await self.status(node_id)
                if s is not None and s["role"] == "leader":
                    return node_id
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no leader among {among} within {timeout}s")

    async def propose(self, node_id: str, command: bytes) -> tuple[float, float]:
        """(client-seen seconds, leader-side seconds) for one committed proposal."""
        call = self.channels[node_id].unary_unary(f"/{SERVICE}/Propose")
        start = time.perf_counter()
        with BENCH_ERRORS.translated():
            inner = await call(command, timeout=10.0)
        return time.perf_counter() - start, int.from_bytes(inner, "big") / 1e9


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def load(cluster: Cluster, leader: str, seconds: float, concurrency: int) -> dict[str, float]:
    outer: list[float] = []
    inner: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker(w: int) -> None:
        n = 0
        while time.monotonic() < deadline and n < 1_000_000:
            a, b = await cluster.propose(leader, b"k%d-%d=v%d" % (w, n % 100, n))
            outer.append(a)
            inner.append(b)
            n += 1

    start = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.monotonic() - start
    return {
        "concurrency": concurrency,
        "commits": len(outer),
        "commits_per_s": len(outer) / elapsed,
        "client_p50_ms": pct(outer, 0.50) * 1e3,
        "client_p99_ms": pct(outer, 0.99) * 1e3,
        "leader_p50_ms": pct(inner, 0.50) * 1e3,
        "leader_p99_ms": pct(inner, 0.99) * 1e3,
        "leader_mean_ms": statistics.fmean(inner) * 1e3 if inner else float("nan"),
    }


async def failover(cluster: Cluster, rounds: int) -> list[dict[str, float]]:
    results = []
    for n in range(rounds):
        old = await cluster.leader(list(cluster.peers), 15.0)
        survivors = [r for r in cluster.peers if r != old]
        t0 = time.monotonic()
        cluster.kill9(old)
        new = await cluster.leader(survivors, 30.0)
        elected = time.monotonic() - t0
        for _ in range(1000):
            try:
                await cluster.propose(new, b"failover-%d=x" % n)
                break
            except ReplicationError:  # NotLeader, NoQuorum (not elected yet, or unreachable)
                await asyncio.sleep(0.01)
                new = await cluster.leader(survivors, 30.0)
        committed = time.monotonic() - t0
        results.append({"killed": old, "new_leader": new, "elected_s": elected, "first_commit_s": committed})
        cluster.start(old)
        target = (await cluster.status(new) or {}).get("applied", 0)
        for _ in range(500):  # let the restarted replica catch up before the next round
            s = await cluster.status(old)
            if s is not None and int(s["applied"]) >= int(target):  # type: ignore[call-overload]
                break
            await asyncio.sleep(0.02)
    return results


async def drive(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="raft-bench-") as tmp:
        cluster = Cluster(Path(args.data_dir) if args.data_dir else Path(tmp))
        cluster.base.mkdir(parents=True, exist_ok=True)
        for node_id in cluster.peers:
            cluster.start(node_id)
        try:
            leader = await cluster.leader(list(cluster.peers), 30.0)
            await load(cluster, leader, 0.5, 4)  # warm up connections and caches
            sequential = await load(cluster, leader, args.seconds, 1)
            concurrent = await load(cluster, leader, args.seconds, args.concurrency)
            inside = []
            for c in (1, args.concurrency, 4 * args.concurrency):
                call = cluster.channels[leader].unary_unary(f"/{SERVICE}/LocalLoad")
                spec = json.dumps({"seconds": args.seconds, "concurrency": c}).encode()
                inside.append(json.loads(await call(spec, timeout=args.seconds + 30)))
            failovers = await failover(cluster, args.failovers)
        finally:
            cluster.stop_all()
        return {
            "sequential": sequential,
            "concurrent": concurrent,
            "in_leader": inside,
            "failover": failovers,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load phase")
    parser.add_argument("--concurrency", type=int, default=32, help="proposals in flight, second phase")
    parser.add_argument("--failovers", type=int, default=3, help="leader kill -9 rounds")
    parser.add_argument("--data-dir", help="keep replica data here (default: a temporary folder)")
    parser.add_argument("--replica", help=argparse.SUPPRESS)
    parser.add_argument("--peers", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replica:
        peers = dict(p.split("=", 1) for p in args.peers.split(","))
        asyncio.run(serve_replica(args.replica, peers, Path(args.data_dir)))
        return 0
    result = asyncio.run(drive(args))
    for phase in ("sequential", "concurrent"):
        r = result[phase]
        assert isinstance(r, dict)
        print(
            f"{phase:>10} (in flight {r['concurrency']:>3}): {r['commits_per_s']:8.0f} commits/s   "
            f"client p50 {r['client_p50_ms']:6.2f} ms  p99 {r['client_p99_ms']:6.2f} ms   "
            f"leader p50 {r['leader_p50_ms']:6.2f} ms  p99 {r['leader_p99_ms']:6.2f} ms"
        )
    for r in result["in_leader"]:  # type: ignore[attr-defined]
        print(
            f"in-leader  (in flight {r['concurrency']:>3}): {r['commits_per_s']:8.0f} commits/s   "
            f"leader p50 {r['leader_p50_ms']:6.2f} ms  p99 {r['leader_p99_ms']:6.2f} ms"
        )
    for f in result["failover"]:  # type: ignore[attr-defined]
        print(
            f"  failover: killed {f['killed']} -> {f['new_leader']} leads after {f['elected_s']:.2f} s, "
            f"first commit after {f['first_commit_s']:.2f} s"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
