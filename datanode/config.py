"""Configuration of one data node: a frozen dataclass tree loaded once at start.

Load with `load_config()` (defaults, then a TOML file, then `CAIRN_DATANODE_<FIELD>`
environment variables such as `CAIRN_DATANODE_STORAGE_WRITER_LANES`, then command-line
flags). Every default is written once, on its field. `__post_init__` rejects values the node
cannot run with.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn import config as cairn_config
from cairn import ports

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True, slots=True)
class LabelsConfig:
    """Failure-domain labels; a placement group puts its shards on nodes that differ."""

    zone: str = "zone-1"  #: availability zone
    rack: str = "rack-1"  #: rack within the zone
    host: str = ""  #: physical host; empty means this machine's hostname

    def resolved_host(self) -> str:
        return self.host or socket.gethostname()


@dataclass(frozen=True, slots=True)
class HeartbeatConfig:
    interval_s: float = 3.0  #: seconds between heartbeats while the placement service answers
    max_backoff_s: float = 30.0  #: cap of the exponential retry delay while it does not
    timeout_s: float = 5.0  #: deadline of one heartbeat call

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.max_backoff_s <= 0 or self.timeout_s <= 0:
            raise ValueError("heartbeat intervals and timeouts must be positive")


@dataclass(frozen=True, slots=True)
class StorageConfig:
    volume_size_limit_bytes: int = GIB  #: a volume is sealed once it reaches this size
    writer_lanes: int = 4  #: read-write volumes appended to in parallel
    group_commit_window_ms: float = 1.0  #: how long a lane waits for more appends before a batch
    max_batch_bytes: int = 64 * MIB  #: payload bytes one batch (one fsync) takes at most
    io_threads: int = 8  #: size of the thread pool doing all blocking disk work
    spool_threshold_bytes: int = 8 * MIB  #: incoming shards larger than this are staged on disk
    #: a write joins the fullest lane whose queue holds less than this (small writes coalesce
    #: into few batches); once every lane holds more, the least full one; 0 = always least full
    lane_fill_bytes: int = MIB
    #: payload bytes all in-flight writes may hold in memory together; past it they spool to disk
    staging_memory_bytes: int = 256 * MIB

    def __post_init__(self) -> None:
        if self.volume_size_limit_bytes < 4096:
            raise ValueError("volume_size_limit_bytes must be at least 4096")
        if self.writer_lanes < 1 or self.io_threads < 1:
            raise ValueError("writer_lanes and io_threads must be at least 1")
        if (
            self.group_commit_window_ms < 0
            or self.max_batch_bytes < 1
            or self.spool_threshold_bytes < 0
            or self.lane_fill_bytes < 0
            or self.staging_memory_bytes < 0
        ):
            raise ValueError(
                "group commit window, batch size, spool threshold and lane fill must not be negative"
            )


@dataclass(frozen=True, slots=True)
class CompactionConfig:
    """Rewriting sealed volumes whose records are mostly dead (compaction.py)."""

    enabled: bool = True  #: run passes on a timer (an explicit trigger works either way)
    interval_s: float = 600.0  #: seconds from the end of one background pass to the start of the next
    #: a sealed volume is compacted once this fraction of its bytes is dead ...
    dead_fraction: float = 0.3
    min_dead_bytes: int = 16 * MIB  #: ... and at least this many bytes are dead
    rate_mib_s: float = 32.0  #: MiB/s of live records copied (read once, written once); 0 = unlimited

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.rate_mib_s < 0 or self.min_dead_bytes < 0:
            raise ValueError("compaction interval must be positive, rate and minimum not negative")
        if not 0 <= self.dead_fraction <= 1:
            raise ValueError("compaction dead_fraction must lie in [0, 1]")


@dataclass(frozen=True, slots=True)
class ScrubConfig:
    """Verifying every checksum of every volume in the background (scrub.py)."""

    enabled: bool = True  #: run passes on a timer (an explicit start works either way)
    interval_s: float = 86400.0  #: seconds from the start of one pass to the start of the next
    rate_mib_s: float = 8.0  #: MiB/s read by a pass; 0 = unlimited

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.rate_mib_s < 0:
            raise ValueError("scrub interval must be positive and its rate not negative")


@dataclass(frozen=True, slots=True)
class DataNodeConfig:
    host: str = "127.0.0.1"  #: address the gRPC server binds
    port: int = ports.DATANODE  #: gRPC port
    advertise_addr: str = ""  #: "host:port" other services reach this node at; empty = host:port
    data_dir: Path = Path("cairn-data/datanode")  #: volumes, index and node_id live here
    #: bytes this node offers at most; 0 = its filesystem's size less the reserve (see capacity.py)
    capacity_bytes: int = 0
    #: free space kept on the filesystem (compaction's copies); at or below it the node reports
    #: itself full and the placement service gives it no new slots
    reserve_bytes: int = GIB
    placement: tuple[str, ...] = ()  #: placement replicas "host:port"; empty = no heartbeats
    shutdown_grace_s: float = 10.0  #: how long SIGTERM waits for in-flight requests
    #: WriteShard/PutShard calls served at once; more wait (a stream is not read meanwhile)
    max_concurrent_writes: int = 64
    ops_port: int = 0  #: HTTP port of /metrics and /cairn/health/* (cairn.ops_http) on `host`; 0 = off
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    heartbeat: HeartbeatConfig = field(default_factory=HeartbeatConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    compaction: CompactionConfig = field(default_factory=CompactionConfig)
    scrub: ScrubConfig = field(default_factory=ScrubConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise ValueError(f"port out of range: {self.port}")
        if self.capacity_bytes < 0 or self.reserve_bytes < 0:
            raise ValueError("capacity_bytes and reserve_bytes must not be negative")
        if self.max_concurrent_writes < 1:
            raise ValueError("max_concurrent_writes must be at least 1")

    @property
    def addr(self) -> str:
        """The bind address."""
        return f"{self.host}:{self.port}"

    @property
    def public_addr(self) -> str:
        """The address heartbeats announce (a pod's DNS name behind a 0.0.0.0 bind, say)."""
        return self.advertise_addr or self.addr


def read_failure_domain(path: Path) -> dict[str, str]:
    """The `zone`, `rack` and `host` labels in a JSON file (the Helm chart's init container
    writes one with `cairn kube-domain`); raises ConfigError for a missing file or a bad one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise cairn_config.ConfigError(f"failure-domain file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise cairn_config.ConfigError(f"failure-domain file {path}: not a JSON object")
    labels = {}
    for name in ("zone", "rack", "host"):
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise cairn_config.ConfigError(f"failure-domain file {path}: {name} must be a non-empty string")
        if value:
            labels[name] = value
    return labels


def load_config(
    path: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> DataNodeConfig:
    """The node's configuration from defaults, `path`, the environment and `overrides`."""
    return cairn_config.load(
        DataNodeConfig, path, env_prefix="DATANODE", overrides=overrides, environ=environ
    )
