#!/usr/bin/env python3
"""Commit throughput and latency of the replicated metadata service, over gRPC, real fsync.

    .venv/bin/python benchmarks/metadata_raft_bench.py [--seconds 5] [--concurrency 1,16,64,256]
                                                        [--drivers 4] [--replicas 3] [--repeat 1]

Starts `--replicas` `python -m cairn.metadata` processes (one Raft group, default config: the
Raft log fdatasync'ed before a command is acknowledged, shards at synchronous=NORMAL) in a
temporary directory, creates a bucket, then for each concurrency level runs `--drivers` client
processes, each with its share of the calls in flight through `MetadataClient` (given every
replica, so it finds the leader). One call is `record_write_intent`: one Raft command, one
commit. Reports commits/s over the window, client-side latency p50/p99 (ms), and the CPU time
each process spent per commit (µs: the leader, the followers on average, the client drivers),
which depends far less than the rate on what else the machine runs. `--repeat N` measures the
levels in turn N times over (the rate moves by a third between runs minutes apart on a shared
machine) and ends with each level's median, lowest and highest rate and its median and highest p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cairn.metadata.client import MetadataClient  # noqa: E402
from tests.support.procs import free_port  # noqa: E402


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _roles(addrs: list[str]) -> list[str]:
    roles = []
    for addr in addrs:
        client = MetadataClient(addr, deadline_s=5.0)
        try:
            roles.append((await client.replica_status()).role)
        finally:
            await client.close()
    return roles


async def _drive(addrs: str, bucket: str, inflight: int, seconds: float) -> tuple[list[float], float]:
    client = MetadataClient(addrs, deadline_s=30.0)
    latencies: list[float] = []
    end = time.monotonic() + seconds

    async def one() -> None:
        while time.monotonic() < end:
            start = time.perf_counter()
            await client.record_write_intent(bucket, f"k{os.urandom(4).hex()}", os.urandom(16), 1)
            latencies.append(time.perf_counter() - start)

    try:
        await client.record_write_intent(bucket, "warm", os.urandom(16), 1)
        cpu = time.process_time()
        await asyncio.gather(*(one() for _ in range(inflight)))
        cpu = time.process_time() - cpu
    finally:
        await client.close()
    return latencies, cpu


def _driver(args: tuple[str, str, int, float]) -> tuple[list[float], float]:
    return asyncio.run(_drive(*args))


async def _setup(addrs: str, bucket: str) -> None:
    client = MetadataClient(addrs, deadline_s=60.0)
    try:
        await client.create_bucket(bucket, "bench")
    finally:
        await client.close()


def _level(procs: list[subprocess.Popen[bytes]], addrs: str, c: int, drivers: int, seconds: float) -> dict:
    """One measurement: `c` calls in flight for `seconds`, shared by up to `drivers` processes."""
    drivers = min(drivers, c)
    shares = [c // drivers + (1 if n < c % drivers else 0) for n in range(drivers)]
    roles = asyncio.run(_roles(addrs.split(",")))
    with multiprocessing.get_context("spawn").Pool(drivers) as pool:
        cpu0 = [_cpu_s(p.pid) for p in procs]
        started = time.monotonic()
        parts = pool.map(_driver, [(addrs, "bench", s, seconds) for s in shares])
        elapsed = time.monotonic() - started
        cpu = [_cpu_s(p.pid) - c0 for p, c0 in zip(procs, cpu0, strict=True)]
    lat = sorted(x for part, _ in parts for x in part)
    per = 1e6 / max(1, len(lat))
    leader_cpu = sum(t for t, r in zip(cpu, roles, strict=True) if r == "leader")
    follower_cpu = [t for t, r in zip(cpu, roles, strict=True) if r != "leader"]
    return {
        "concurrency": c,
        "commits": len(lat),
        "commits_per_s": round(len(lat) / seconds),
        "p50_ms": round(1000 * statistics.median(lat), 2),
        "p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 2),
        "wall_s": round(elapsed, 1),
        "cpu_us_per_commit": {
            "leader": round(leader_cpu * per),
            "follower": round(statistics.mean(follower_cpu or [0.0]) * per),
            "drivers": round(sum(t for _, t in parts) * per),
        },
    }


def _summaries(results: list[dict]) -> list[dict]:
    """Per level over the runs: the median, lowest and highest rate, the median and highest p99."""
    out = []
    for c in sorted({r["concurrency"] for r in results}):
        rates = [r["commits_per_s"] for r in results if r["concurrency"] == c]
        p99s = [r["p99_ms"] for r in results if r["concurrency"] == c]
        out.append(
            {
                "concurrency": c,
                "runs": len(rates),
                "commits_per_s": {"median": statistics.median(rates), "min": min(rates), "max": max(rates)},
                "p99_ms": {"median": statistics.median(p99s), "max": max(p99s)},
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--drivers", type=int, default=4)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1, help="measure every level this many times, in turn")
    args = parser.parse_args()
    ids = [f"m{i + 1}" for i in range(args.replicas)]
    ports = {i: free_port() for i in ids}
    peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in ports.items())
    addrs = ",".join(f"127.0.0.1:{p}" for p in ports.values())
    results = []
    with tempfile.TemporaryDirectory(prefix="meta-raft-bench-", dir=ROOT) as tmp:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "cairn.metadata", "--id", i, "--peers", peers]
                + ["--data-dir", str(Path(tmp) / i), "--shards", str(args.shards), "--log-level", "WARNING"],
                cwd=ROOT,
            )
            for i in ids
        ]
        try:
            time.sleep(1.0)
            asyncio.run(_setup(addrs, "bench"))
            for run in range(1, args.repeat + 1):  # the levels in turn, `--repeat` times over
                for c in (int(x) for x in args.concurrency.split(",")):
                    row = {"run": run, **_level(procs, addrs, c, args.drivers, args.seconds)}
                    results.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(10)
    print(json.dumps({"replicas": args.replicas, "load_avg": os.getloadavg(), "results": results}))
    if args.repeat > 1:
        for summary in _summaries(results):
            print(json.dumps(summary))


if __name__ == "__main__":
    main()
