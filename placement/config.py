"""Configuration of one placement replica (a frozen dataclass tree loaded with cairn.config.load).

Environment overrides use the prefix PLACEMENT, e.g. `CAIRN_PLACEMENT_DOWN_AFTER_S=30`; the Raft
runtime's settings nest under `raft` (`[raft]` in TOML, `CAIRN_PLACEMENT_RAFT_TICK_S=0.05`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cairn import ports
from cairn.config import ConfigError
from cairn.raft.config import RaftConfig


@dataclass(frozen=True, slots=True)
class PlacementConfig:
    id: str = "p1"
    """This replica's id; must be a key of `peers`."""
    host: str = "127.0.0.1"
    """Address the gRPC server binds to."""
    port: int = ports.PLACEMENT
    """gRPC port (placement API and Raft peer traffic share it)."""
    peers: Mapping[str, str] = field(default_factory=dict)
    """Every replica's id -> "host:port", this one included (empty: a one-replica group)."""
    data_dir: Path = Path("./placement-data")
    """Raft log, hard state and snapshots."""
    k: int = 8
    """Data shards per blob (fixed when the cluster map is created)."""
    m: int = 4
    """Parity shards per blob."""
    pg_count: int = 256
    """Placement groups, fixed when the cluster map is created."""
    max_shards_per_host: int = 0
    """At most this many shards of one PG on one host, used only when there are fewer hosts than
    k+m (0: m, at least 1); fixed when the cluster map is created."""
    auto_create: bool = True
    """Create the map as soon as `auto_create_hosts` failure domains (hosts) have heart-beaten."""
    auto_create_hosts: int = 0
    """Distinct hosts up before the map is created automatically (0: k+m). Fewer than k+m needs
    `max_shards_per_host` room: hosts * shards per host >= k+m."""
    down_after_s: float = 15.0
    """A node with no heartbeat for this long is marked down (keeps its slots)."""
    out_after_s: float = 600.0
    """A node with no heartbeat for this long is taken out (its slots move)."""
    usage_report_interval_s: float = 60.0
    """At most one usage-only update per node per this period goes through Raft."""
    usage_report_min_change: float = 0.01
    """...and only when usage moved by at least this fraction of capacity."""
    tick_interval_s: float = 0.5
    """How often the leader checks the down/out timers."""
    propose_timeout_s: float = 5.0
    """Deadline for committing one command."""
    raft: RaftConfig = field(default_factory=RaftConfig)
    """The Raft runtime's timers and limits (e.g. CAIRN_PLACEMENT_RAFT_TICK_S)."""
    ops_port: int = 0
    """HTTP port of /metrics and /cairn/health/* (cairn.ops_http) on `host`; 0 = off."""

    def __post_init__(self) -> None:
        if self.k < 1 or self.m < 0:
            raise ConfigError(f"k must be >= 1 and m >= 0 (got k={self.k}, m={self.m})")
        if self.auto_create_hosts and self.auto_create_hosts * self.shards_per_host < self.k + self.m:
            raise ConfigError(
                f"auto_create_hosts={self.auto_create_hosts} hosts with at most {self.shards_per_host} shards "
                f"each cannot hold k+m={self.k + self.m} shards"
            )
        if self.max_shards_per_host < 0:
            raise ConfigError(f"max_shards_per_host must be >= 0 (got {self.max_shards_per_host})")
        if self.pg_count < 1:
            raise ConfigError(f"pg_count must be >= 1 (got {self.pg_count})")
        if not 0 < self.down_after_s < self.out_after_s:
            raise ConfigError(
                f"need 0 < down_after_s < out_after_s (got {self.down_after_s}, {self.out_after_s})"
            )
        if self.peers and self.id not in self.peers:
            raise ConfigError(f"replica id {self.id!r} is not among peers {sorted(self.peers)}")

    @property
    def shards_per_host(self) -> int:
        """The per-host limit the map is created with (`max_shards_per_host`, else m, at least 1)."""
        return self.max_shards_per_host or max(self.m, 1)

    def peer_map(self) -> dict[str, str]:
        """Peers including this replica (a one-replica group when none are configured)."""
        return dict(self.peers) or {self.id: f"{self.host}:{self.port}"}
