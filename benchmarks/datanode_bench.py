#!/usr/bin/env python3
"""Data node write throughput and CPU cost per shard, against one real data node process.

Run: `.venv/bin/python benchmarks/datanode_bench.py [--seconds 5] [--concurrency 32]
[--sizes 600,4096,131072] [--pieces 1]`.

Starts `python -m cairn.datanode` on a free port in a temporary data directory, then for each
shard size runs N concurrent writers through `DataNodeClient.write_shard` (each shard sent as
`--pieces` pieces from an async generator, as api_service/blob_writer.py does) for a bounded
time and count. Reports shards/s, MB/s and the data node process's CPU seconds per shard
(utime + stime from /proc/<pid>/stat, so the client's own CPU is not counted). The node is
stopped with SIGTERM at the end. `--profile-pid-file F` writes the node's pid to F and waits
`--profile-wait` seconds before the first workload (to attach py-spy).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from cairn.datanode.client import DataNodeClient, DataNodeUnavailable, ShardKey

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
MAX_SHARDS = 200_000  # bound on any one workload


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def start_node(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cairn.datanode",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--capacity",
                str(64 << 30),
                "--log-level",
                "WARNING",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    return proc


async def wait_ready(addr: str, proc: subprocess.Popen[bytes], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while True:
        client = DataNodeClient(addr)
        try:
            await client.stat(timeout=1.0)
            return
        except DataNodeUnavailable:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
        finally:
            await client.close()


async def _pieces(data: bytes, count: int) -> AsyncIterator[bytes]:
    step = -(-len(data) // count)
    for i in range(0, len(data), step):
        await asyncio.sleep(0)
        yield data[i : i + step]


async def workload(addr: str, pid: int, size: int, concurrency: int, seconds: float, pieces: int) -> str:
    clients = [DataNodeClient(addr) for _ in range(min(concurrency, 4))]  # a few channels, as a pool would
    payload = os.urandom(size)
    done = 0
    stop_at = 0.0

    async def writer(n: int) -> None:
        nonlocal done
        client = clients[n % len(clients)]
        while time.monotonic() < stop_at and done < MAX_SHARDS:
            await client.write_shard(ShardKey(uuid.uuid4().bytes, n % 12), n, _pieces(payload, pieces))
            done += 1

    # warm-up: open channels
    for i, c in enumerate(clients):
        await c.write_shard(ShardKey(uuid.uuid4().bytes, 0), i, _pieces(payload, pieces))
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    stop_at = t0 + seconds
    await asyncio.gather(*(writer(n) for n in range(concurrency)))
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
    for c in clients:
        await c.close()
    return (
        f"size={size:>7} B  conc={concurrency:>3}  pieces={pieces}  shards={done:>6}  "
        f"{done / elapsed:8.1f} shards/s  {done * size / elapsed / 1e6:7.2f} MB/s  "
        f"node cpu {cpu / max(done, 1) * 1e3:6.3f} ms/shard  ({cpu / elapsed * 100:4.0f}% of a core)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sizes", default="600,4096,131072")
    parser.add_argument("--pieces", type=int, default=1, help="pieces each shard is sent as")
    parser.add_argument("--profile-pid-file", type=Path)
    parser.add_argument("--profile-wait", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dnbench-") as tmp:
        port = free_port()
        proc = start_node(Path(tmp) / "node", port, Path(tmp) / "node.log")
        try:
            addr = f"127.0.0.1:{port}"
            await wait_ready(addr, proc)
            if args.profile_pid_file:
                args.profile_pid_file.write_text(f"{proc.pid}\n")
                await asyncio.sleep(args.profile_wait)
            for size in (int(s) for s in args.sizes.split(",")):
                print(
                    await workload(addr, proc.pid, size, args.concurrency, args.seconds, args.pieces),
                    flush=True,
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
