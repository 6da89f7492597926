"""`python -m cairn.metadata [--data-dir D] [--port P] [--shards 8] [--root-access-key K --root-secret-key S]`.

Only wiring: read flags and config, open the store, serve gRPC until SIGTERM/SIGINT, then stop
accepting, drain in-flight calls for a few seconds and close the shards.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from cairn import logs, ops_http, ports
from cairn.config import load
from cairn.metadata.config import MetadataConfig
from cairn.metadata.metrics import MetadataMetrics
from cairn.metadata.rpc_server import start_server
from cairn.metadata.service import MetadataService

log = logging.getLogger("cairn.metadata")

DRAIN_S = 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cairn.metadata", description="Cairn metadata service")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--data-dir", help="directory of the SQLite shards (default data/metadata)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help=f"gRPC port (default {ports.METADATA}; 0: any free port)")
    p.add_argument("--shards", type=int, help="object shards (fixed at creation; default 8)")
    p.add_argument(
        "--root-access-key", help="root access key id to ensure (or CAIRN_METADATA_ROOT_ACCESS_KEY)"
    )
    p.add_argument("--ops-port", type=int, help="HTTP port of /metrics and /cairn/health/* (default: off)")
    p.add_argument("--root-secret-key", help="root secret key (or CAIRN_METADATA_ROOT_SECRET_KEY)")
    logs.add_arguments(p)
    return p.parse_args(argv)


async def run(config: MetadataConfig) -> None:
    service = await MetadataService.open(config)
    server, port = await start_server(service, config.host, config.port)
    log.info("metadata listening on %s:%d", config.host, port)
    observed = MetadataMetrics(config.data_dir)
    ops = await ops_http.start(config.host, config.ops_port, observed.readiness, observed.refresh)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if ops is not None:
            await ops.stop()
        await server.stop(DRAIN_S)
        await service.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logs.setup(args.log_format, "metadata", level=args.log_level)
    overrides = {
        "data_dir": args.data_dir,
        "host": args.host,
        "port": args.port,
        "shards": args.shards,
        "root_access_key": args.root_access_key,
        "root_secret_key": args.root_secret_key,
        "ops_port": args.ops_port,
    }
    config = load(MetadataConfig, args.config, env_prefix="metadata", overrides=overrides)
    asyncio.run(run(config))


if __name__ == "__main__":
    main()
