"""`python -m cairn.datanode`: parse flags, load the config, run one data node."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

from cairn import logs, ports
from cairn.datanode.config import load_config, read_failure_domain
from cairn.datanode.heartbeat import HeartbeatSender, NodeIdFile
from cairn.datanode.service import run_node


def _placement_client(addrs: Sequence[str]) -> HeartbeatSender:
    from cairn.placement.client import PlacementClient  # only needed when heartbeats are on

    return PlacementClient(list(addrs))  # type: ignore[return-value]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cairn.datanode", description="Run one Cairn data node.")
    parser.add_argument("--config", type=Path, help="TOML config file")
    parser.add_argument("--data-dir", type=Path, help="volumes, index and node_id live here")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help=f"gRPC port (default {ports.DATANODE})")
    parser.add_argument("--advertise-addr", help="host:port announced to placement (default: --host:--port)")
    parser.add_argument("--zone", help="failure-domain zone label")
    parser.add_argument("--rack", help="failure-domain rack label")
    parser.add_argument("--node-host", help="failure-domain host label (default: hostname)")
    parser.add_argument(
        "--failure-domain-file",
        type=Path,
        help="JSON file with zone, rack and host labels (written by `cairn kube-domain`); flags win",
    )
    parser.add_argument("--capacity", type=int, help="capacity in bytes")
    parser.add_argument("--placement", help="placement replicas, host:port,host:port,...")
    parser.add_argument(
        "--ops-port", type=int, help="HTTP port of /metrics and /cairn/health/* (default: off)"
    )
    logs.add_arguments(parser)
    args = parser.parse_args(argv)
    domain = read_failure_domain(args.failure_domain_file) if args.failure_domain_file else {}
    config = load_config(
        args.config,
        overrides={
            "data_dir": args.data_dir,
            "host": args.host,
            "port": args.port,
            "advertise_addr": args.advertise_addr,
            "labels.zone": args.zone or domain.get("zone"),
            "labels.rack": args.rack or domain.get("rack"),
            "labels.host": args.node_host or domain.get("host"),
            "capacity_bytes": args.capacity,
            "placement": args.placement,
            "ops_port": args.ops_port,
        },
    )
    # the instance id is the node id, known once the placement service assigned it
    logs.setup(args.log_format, "datanode", NodeIdFile(config.data_dir / "node_id").load, args.log_level)
    asyncio.run(run_node(config, _placement_client))


if __name__ == "__main__":
    main()
