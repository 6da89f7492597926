"""Configuration of `cairn up`: flags, an optional TOML file (`--config`), and the environment.

Sources, later ones winning (cairn.config.load): the defaults below, the TOML file,
`CAIRN_UP_<FIELD>` variables (and `CAIRN_DATA_DIR` for the data directory), then the flags.
A TOML file mirrors the flags; internal ports sit in a `[ports]` table:

    port = 9000
    region = "eu-west-1"
    [ports]
    placement = [7000, 7001, 7002]        # replicas p1, p2, p3
    metadata = 7100
    datanodes = [7200, 7201, 7202, ...]   # one per data node, in name order (dn-0001, ...)

Unpinned internal ports are chosen free at the first start and kept in `<data-dir>/layout.json`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

from cairn import logs, ports
from cairn.config import ConfigError, load

PLACEMENT_REPLICAS = ("p1", "p2", "p3")
METADATA_REPLICAS = ("m1", "m2", "m3")


@dataclass(frozen=True, slots=True)
class PinnedPorts:
    placement: tuple[int, ...] = ()
    """Ports of the placement replicas p1, p2, p3 (empty: chosen at the first start)."""
    metadata: int = 0
    """Port of the metadata service (0: chosen at the first start)."""
    datanodes: tuple[int, ...] = ()
    """One port per data node, in name order (empty: chosen at the first start)."""

    def all(self) -> list[int]:
        return [*self.placement, *([self.metadata] if self.metadata else []), *self.datanodes]


@dataclass(frozen=True, slots=True)
class UpConfig:
    data_dir: Path = Path("cairn-data")
    """Everything the cluster stores, plus cluster.json, layout.json and logs/."""
    host: str = "127.0.0.1"
    """Address the S3 API listens on (internal services always use 127.0.0.1)."""
    port: int = ports.S3
    """S3 API port."""
    region: str = "us-east-1"
    """The region the S3 API reports and the banner's commands sign for."""
    data_nodes: int = 12
    """Data nodes, one failure domain each."""
    api_workers: int = 1
    """S3 API worker processes."""
    k: int = 8
    """Data shards per stripe (first start only)."""
    m: int = 4
    """Parity shards per stripe (first start only)."""
    pg_count: int = 256
    """Placement groups (first start only)."""
    metadata_shards: int = 2
    """Object shards of each metadata replica (first start only). Each committed round costs one
    SQLite transaction per shard it touches, so fewer shards cost less per write on a small
    machine (benchmarks/README.md); the metadata service's own default stays 8."""
    tls: bool = False
    """Serve HTTPS with a self-signed certificate generated into <data-dir>/tls."""
    tls_cert: Path | None = None
    """Serve HTTPS with this certificate (PEM); needs tls_key."""
    tls_key: Path | None = None
    """Private key of tls_cert (PEM)."""
    restart: bool = True
    """Restart a child that exits unexpectedly (with backoff)."""
    log_format: str = "text"
    """text or json, for cairn up and every service it starts."""
    log_level: str = "INFO"
    """Log level of cairn up and every service it starts."""
    ports: PinnedPorts = field(default_factory=PinnedPorts)
    """Internal ports to use instead of free ones."""

    def __post_init__(self) -> None:
        if self.log_format not in logs.FORMATS:
            raise ConfigError(
                f"log_format must be one of {', '.join(logs.FORMATS)} (got {self.log_format!r})"
            )
        if self.data_nodes < 1 or self.api_workers < 1:
            raise ConfigError("data_nodes and api_workers must be at least 1")
        if not 1 <= self.metadata_shards <= 256:
            raise ConfigError("metadata_shards must be between 1 and 256")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_cert and tls_key go together")
        pins = self.ports
        if len(pins.placement) not in (0, len(PLACEMENT_REPLICAS)):
            raise ConfigError(f"ports.placement needs {len(PLACEMENT_REPLICAS)} ports (one per replica)")
        if pins.datanodes and len(pins.datanodes) != self.data_nodes:
            raise ConfigError(
                f"ports.datanodes lists {len(pins.datanodes)} ports for {self.data_nodes} data nodes"
            )
        for port in [self.port, *pins.all()]:
            if not 0 < port < 65536:
                raise ConfigError(f"port {port} is out of range")
        if len(set(pins.all())) != len(pins.all()):
            raise ConfigError("the pinned internal ports must be distinct")
        if self.port in pins.all():
            raise ConfigError(f"port {self.port} is the S3 port and cannot be pinned to an internal service")


def port_list(text: str) -> tuple[int, ...]:
    """`7200,7201` or `7200-7211` (inclusive) or a mix, as a tuple of ports (an argparse type)."""
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        first, sep, last = part.partition("-")
        try:
            if sep:
                out.extend(range(int(first), int(last) + 1))
            elif part:
                out.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a port list: {text!r}") from None
    return tuple(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `cairn up`; None means "not given", so the file and environment apply."""
    defaults = UpConfig()
    parser.add_argument("--config", type=Path, help="TOML file with any of the settings below")
    parser.add_argument(
        "--data-dir", type=Path, help=f"data directory (default: $CAIRN_DATA_DIR or {defaults.data_dir})"
    )
    parser.add_argument("--host", help=f"address the S3 API listens on (default {defaults.host})")
    parser.add_argument("--port", type=int, help=f"S3 API port (default {defaults.port})")
    parser.add_argument("--region", help=f"region the S3 API reports (default {defaults.region})")
    parser.add_argument(
        "--data-nodes", type=int, help=f"data nodes, one failure domain each (default {defaults.data_nodes})"
    )
    parser.add_argument(
        "--api-workers", type=int, help=f"S3 API worker processes (default {defaults.api_workers})"
    )
    parser.add_argument(
        "--k", type=int, help=f"data shards per stripe (first start only; default {defaults.k})"
    )
    parser.add_argument(
        "--m", type=int, help=f"parity shards per stripe (first start only; default {defaults.m})"
    )
    parser.add_argument(
        "--pg-count", type=int, help=f"placement groups (first start only; default {defaults.pg_count})"
    )
    parser.add_argument(
        "--metadata-shards",
        type=int,
        help=f"object shards of each metadata replica (first start only; default {defaults.metadata_shards})",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        default=None,
        help="serve HTTPS with a generated self-signed certificate",
    )
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="private key for --tls-cert (PEM)")
    parser.add_argument(
        "--no-restart",
        action="store_false",
        dest="restart",
        default=None,
        help="do not restart children that die",
    )
    parser.add_argument(
        "--placement-ports", type=port_list, metavar="P1,P2,P3", help="pin the 3 placement replicas' ports"
    )
    parser.add_argument("--metadata-port", type=int, help="pin the port of metadata replica m1")
    parser.add_argument(
        "--datanode-ports",
        type=port_list,
        metavar="FIRST-LAST|P,P,...",
        help="pin the data nodes' ports, one per node in name order (e.g. 7200-7211)",
    )
    parser.add_argument("--log-format", choices=logs.FORMATS, help="text (default) or json lines")
    parser.add_argument("--log-level", help="DEBUG, INFO (default), WARNING, ERROR")


def from_args(args: argparse.Namespace) -> UpConfig:
    """The configuration: defaults < TOML file < environment < flags (ConfigError if invalid)."""
    names = (
        "data_dir host port region data_nodes api_workers k m pg_count metadata_shards "
        "tls tls_cert tls_key restart log_format log_level"
    ).split()
    overrides: dict[str, object] = {name: getattr(args, name, None) for name in names}
    if overrides["data_dir"] is None and os.environ.get("CAIRN_DATA_DIR"):
        overrides["data_dir"] = os.environ["CAIRN_DATA_DIR"]
    overrides["ports.placement"] = getattr(args, "placement_ports", None)
    overrides["ports.metadata"] = getattr(args, "metadata_port", None)
    overrides["ports.datanodes"] = getattr(args, "datanode_ports", None)
    return load(UpConfig, getattr(args, "config", None), env_prefix="up", overrides=overrides)
