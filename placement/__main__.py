"""`python -m cairn.placement`: run one placement replica (gRPC API + Raft peer service on one port)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
from pathlib import Path

from prometheus_client import REGISTRY

from cairn import logs, ops_http, rpc
from cairn.config import load
from cairn.placement import rpc_server
from cairn.placement.config import PlacementConfig
from cairn.placement.metrics import PlacementCollector, readiness
from cairn.placement.service import PlacementService
from cairn.placement.state_machine import PlacementStateMachine
from cairn.raft.node import RaftNode
from cairn.rpc import server as grpc_server

log = logging.getLogger("cairn.placement")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cairn.placement", description="Cairn placement replica")
    p.add_argument("--config", type=Path, help="TOML config file")
    p.add_argument("--id", help="this replica's id (a key of --peers)")
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int)
    p.add_argument("--peers", help="id=host:port,... for every replica, this one included")
    p.add_argument("--k", type=int)
    p.add_argument("--m", type=int)
    p.add_argument("--pg-count", type=int)
    p.add_argument("--down-after-s", type=float)
    p.add_argument("--out-after-s", type=float)
    p.add_argument(
        "--max-shards-per-host",
        type=int,
        help="at most this many shards of a PG on one host when there are fewer hosts than k+m "
        "(default 0: m); fixed when the map is created",
    )
    p.add_argument(
        "--auto-create-hosts",
        type=int,
        help="distinct hosts up before the map is created (default 0: k+m); fewer than k+m needs "
        "hosts * --max-shards-per-host >= k+m",
    )
    p.add_argument("--ops-port", type=int, help="HTTP port of /metrics and /cairn/health/* (default: off)")
    p.add_argument("--no-auto-create", action="store_true", help="create the map only on operator command")
    logs.add_arguments(p)
    return p.parse_args(argv)


async def serve(config: PlacementConfig) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    machine = PlacementStateMachine()
    raft = RaftNode(config.id, config.peer_map(), config.data_dir / "raft", machine, config.raft)
    service = PlacementService(config, machine, raft, config.peer_map())
    server = grpc_server()
    rpc_server.add_to_server(server, service)
    raft.add_to_server(server)
    bound = rpc.bind(server, f"{config.host}:{config.port}")
    await server.start()
    await raft.start()
    log.info("placement %s listening on %s:%d", config.id, config.host, bound)
    REGISTRY.register(PlacementCollector(service))
    ops = await ops_http.start(config.host, config.ops_port, functools.partial(readiness, service))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ticker = asyncio.create_task(service.run())
    await stop.wait()
    log.info("placement %s stopping", config.id)
    ticker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticker
    if ops is not None:
        await ops.stop()
    raft.end_incoming_streams()  # else the drain waits out its grace for them
    await server.stop(grace=2.0)
    await raft.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    overrides = {
        "id": args.id,
        "data_dir": args.data_dir,
        "host": args.host,
        "port": args.port,
        "peers": args.peers,
        "k": args.k,
        "m": args.m,
        "pg_count": args.pg_count,
        "down_after_s": args.down_after_s,
        "out_after_s": args.out_after_s,
        "max_shards_per_host": args.max_shards_per_host,
        "auto_create_hosts": args.auto_create_hosts,
        "auto_create": False if args.no_auto_create else None,
        "ops_port": args.ops_port,
    }
    if args.port is None and args.peers and args.id:
        # the port this replica announces to its peers is the one it listens on
        mine = dict(p.split("=", 1) for p in args.peers.split(",") if "=" in p).get(args.id, "")
        overrides["port"] = mine.rpartition(":")[2] or None
    config = load(PlacementConfig, args.config, env_prefix="placement", overrides=overrides)
    logs.setup(args.log_format, "placement", config.id, args.log_level)
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
