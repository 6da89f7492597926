#!/usr/bin/env python3
"""The floor of one gRPC call in Python on this machine: server CPU per unary call that does nothing.

Every Cairn hop is a grpcio call (API -> metadata leader, leader -> followers, API -> data
nodes). This starts a bare echo server in its own process (no interceptors, no TLS, no
protobuf: bytes in, the same bytes out), calls it from this process for a bounded time at each
concurrency and size, and prints calls/s and the server process's CPU per call (utime + stime
from /proc, so the client's own CPU is not counted). What Cairn's services spend per call above
this is theirs; this part is grpcio's and the interpreter's.

Run: .venv/bin/python benchmarks/grpc_floor_bench.py [--seconds 3] [--server aio|sync]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from concurrent import futures

import grpc
import grpc.aio

TICKS = os.sysconf("SC_CLK_TCK")
METHOD = "/floor.Echo/Echo"
MAX_CALLS = 200_000  # bound on any one run


def _same(data: bytes) -> bytes:
    return data


def _handler(behavior):  # type: ignore[no-untyped-def]
    return grpc.method_handlers_generic_handler(
        "floor.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(behavior, _same, _same)}
    )


async def _serve_aio(port: int) -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_handler(echo),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def _serve_sync(port: int) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(8))
    server.add_generic_rpc_handlers((_handler(lambda request, context: request),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def _run(port: int, pid: int, concurrency: int, size: int, seconds: float) -> str:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(METHOD, request_serializer=_same, response_deserializer=_same)
        await call(b"warm", timeout=10)
        payload, done = os.urandom(size), 0
        stop = time.monotonic() + seconds

        async def caller() -> None:
            nonlocal done
            while time.monotonic() < stop and done < MAX_CALLS:
                if await call(payload, timeout=10) != payload:
                    raise RuntimeError("the echo came back different")
                done += 1

        cpu0, t0 = _cpu_seconds(pid), time.monotonic()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed, cpu = time.monotonic() - t0, _cpu_seconds(pid) - cpu0
    return (
        f"c={concurrency:<3} {size:>7} B  {done / elapsed:8.0f} calls/s  "
        f"server CPU {cpu / max(done, 1) * 1e6:5.0f} us/call"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--server", choices=("aio", "sync"), default="aio")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the server process's port
    args = parser.parse_args()
    if args.serve:
        if args.server == "aio":
            asyncio.run(_serve_aio(args.serve))
        else:
            _serve_sync(args.serve)
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, __file__, "--server", args.server, "--serve", str(port)],
        stdin=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        print(f"grpcio {grpc.__version__}, {args.server} server, Python {sys.version.split()[0]}")
        for concurrency in (1, 8):
            for size in (10, 128 << 10):
                print(asyncio.run(_run(port, server.pid, concurrency, size, args.seconds)), flush=True)
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
