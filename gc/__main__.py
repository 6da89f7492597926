"""`python -m cairn.gc --placement H:P,... --metadata H:P,... [--port P] [--ops-port P]
[--interval-s S] [--repair-interval-s S]`.

Only wiring: read flags and config, open the service, serve gRPC (and /metrics and health on
the ops port when set: gc/metrics.py) and run every worker on its timer until SIGTERM/SIGINT, then stop the timers and close the connections.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from cairn import logs, ops_http, ports
from cairn.config import load
from cairn.gc.config import GcConfig
from cairn.gc.metrics import GcMetrics
from cairn.gc.rpc_server import start_server
from cairn.gc.service import GcService

log = logging.getLogger("cairn.gc")

DRAIN_S = 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cairn.gc", description="Cairn background service (GC)")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help=f"gRPC port (default {ports.GC}; 0: any free port)")
    p.add_argument("--ops-port", type=int, help="HTTP port of /metrics and /cairn/health/* (default: off)")
    p.add_argument(
        "--placement", help=f"placement replicas HOST:PORT,... (default 127.0.0.1:{ports.PLACEMENT})"
    )
    p.add_argument(
        "--metadata",
        help=f"metadata replicas HOST:PORT[,HOST:PORT...] (default 127.0.0.1:{ports.METADATA})",
    )
    p.add_argument("--interval-s", type=float, help="seconds between two passes of each worker (default 60)")
    p.add_argument(
        "--repair-interval-s", type=float, help="seconds between two passes of the repair worker (default 30)"
    )
    p.add_argument(
        "--sweep-s",
        type=float,
        help="seconds in which the timed repair and orphan passes list every PG, a share each pass "
        "(default 3600; 0: all of them every pass)",
    )
    logs.add_arguments(p)
    return p.parse_args(argv)


async def run(config: GcConfig) -> None:
    service = GcService.open(config)
    server, port = await start_server(service, config.host, config.port)
    observed = GcMetrics(service)
    ops = await ops_http.start(config.host, config.ops_port, observed.readiness, observed.refresh)
    log.info(
        "gc listening on %s:%d, workers %s every %.0fs (repair every %.0fs), every PG swept in %.0fs",
        config.host,
        port,
        ", ".join(service.loops),
        config.interval_s,
        config.repair_interval_s,
        config.sweep_s,
    )
    service.start()
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
    logs.setup(args.log_format, "gc", level=args.log_level)
    overrides = {
        "host": args.host,
        "port": args.port,
        "ops_port": args.ops_port,
        "placement": args.placement,
        "metadata": args.metadata,
        "interval_s": args.interval_s,
        "repair_interval_s": args.repair_interval_s,
        "sweep_s": args.sweep_s,
    }
    config = load(GcConfig, args.config, env_prefix="gc", overrides=overrides)
    asyncio.run(run(config))


if __name__ == "__main__":
    main()
