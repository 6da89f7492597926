"""`python -m cairn.metadata [--id m1 --peers m1=h:p,m2=h:p,m3=h:p] [--data-dir D] [--port P] ...`.

Only wiring: read flags and config, check the shard files (`integrity.py`: damaged ones are
rebuilt from the Raft snapshot and log, or the replica refuses to start), open the store, start the Raft replica (its peer service
shares the metadata gRPC port), serve until SIGTERM/SIGINT, then stop accepting, drain
in-flight calls for a few seconds, stop Raft and close the shards. Without `--peers` the
replica is a one-replica group. The root key (when configured) is ensured by whichever
replica leads first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from cairn import logs, ops_http, ports
from cairn.config import load
from cairn.metadata import catalog, integrity
from cairn.metadata.config import MetadataConfig
from cairn.metadata.errors import MetadataError, NoSuchAccessKey
from cairn.metadata.metrics import MetadataMetrics
from cairn.metadata.replicated import MetadataMachine
from cairn.metadata.rpc_server import start_server
from cairn.metadata.service import MetadataService
from cairn.metadata.store import Store
from cairn.raft.node import RaftNode
from cairn.rpc import server as grpc_server

log = logging.getLogger("cairn.metadata")

DRAIN_S = 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cairn.metadata", description="Cairn metadata service")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--data-dir", help="directory of the SQLite shards (default data/metadata)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help=f"gRPC port (default {ports.METADATA}; 0: any free port)")
    p.add_argument("--shards", type=int, help="object shards (fixed at creation; default 8)")
    p.add_argument("--id", help="this replica's id (a key of --peers; default m1)")
    p.add_argument("--peers", help="id=host:port,... for every replica, this one included")
    p.add_argument(
        "--root-access-key", help="root access key id to ensure (or CAIRN_METADATA_ROOT_ACCESS_KEY)"
    )
    p.add_argument("--ops-port", type=int, help="HTTP port of /metrics and /cairn/health/* (default: off)")
    p.add_argument("--root-secret-key", help="root secret key (or CAIRN_METADATA_ROOT_SECRET_KEY)")
    p.add_argument("--master-keyring", help="the cluster master keyring file (KMS key material)")
    logs.add_arguments(p)
    return p.parse_args(argv)


async def run(config: MetadataConfig) -> None:
    integrity.recover(config.data_dir, config.data_dir / "raft")
    store = Store.open(
        config.data_dir,
        config.shards,
        synchronous=config.synchronous,
        cache_mb=config.cache_mb,
        mmap_mb=config.mmap_mb,
    )
    machine = MetadataMachine(store)
    raft_dir = config.data_dir / "raft"
    if (raft_dir / "raft.wal").exists() and not (raft_dir / "snapshot").exists():
        machine.reset()  # the log starts at index 1: its replay rebuilds every shard exactly
    peers = config.peer_map()
    raft = RaftNode(config.id, peers, config.data_dir / "raft", machine, config.raft)
    service = MetadataService.build(config, store, machine, raft, peers)
    server = grpc_server()
    raft.add_to_server(server)
    server, port = await start_server(service, config.host, config.port, server)
    await raft.start()
    log.info("metadata listening on %s:%d (replica %s)", config.host, port, config.id)
    observed = MetadataMetrics(config.data_dir)
    ops = await ops_http.start(config.host, config.ops_port, observed.readiness, observed.refresh)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    root = asyncio.create_task(_ensure_root(service, config)) if config.root_access_key else None
    try:
        await stop.wait()
    finally:
        if ops is not None:
            await ops.stop()
        if root is not None:
            root.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await root
        raft.end_incoming_streams()  # else the drain waits out its grace for them
        await server.stop(DRAIN_S)
        await raft.stop()
        await service.close()


async def _ensure_root(service: MetadataService, config: MetadataConfig) -> None:
    """Ensure the root key once: by this replica if it leads, or seen applied from the leader."""
    while True:
        if service.replicator.status().role == "leader":
            try:
                await service.ensure_root(config.root_access_key, config.root_secret_key)
                return
            except MetadataError as exc:
                log.info("ensuring the root key: %s", exc)
        else:
            with contextlib.suppress(NoSuchAccessKey):
                await service.store.catalog.read(catalog.read_access_key, config.root_access_key)
                return
        await asyncio.sleep(0.2)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logs.setup(args.log_format, "metadata", level=args.log_level)
    overrides = {
        "data_dir": args.data_dir,
        "host": args.host,
        "port": args.port,
        "shards": args.shards,
        "id": args.id,
        "peers": args.peers,
        "root_access_key": args.root_access_key,
        "root_secret_key": args.root_secret_key,
        "ops_port": args.ops_port,
        "master_keyring": args.master_keyring,
    }
    if args.port is None and args.peers and args.id:
        # the port this replica announces to its peers is the one it listens on
        mine = dict(p.split("=", 1) for p in args.peers.split(",") if "=" in p).get(args.id, "")
        overrides["port"] = mine.rpartition(":")[2] or None
    config = load(MetadataConfig, args.config, env_prefix="metadata", overrides=overrides)
    try:
        asyncio.run(run(config))
    except integrity.DamagedStore as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
