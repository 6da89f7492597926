"""Configuration of the metadata service (one frozen dataclass, loaded with cairn.config.load).

Environment overrides use the prefix `CAIRN_METADATA_`, e.g. `CAIRN_METADATA_SHARDS=16`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cairn import ports
from cairn.raft.config import RaftConfig


@dataclass(frozen=True, slots=True)
class MetadataConfig:
    data_dir: Path = Path("data/metadata")
    """Directory holding catalog.sqlite, the object shard files and the Raft log (`raft/`)."""
    id: str = "m1"
    """This replica's id in the metadata Raft group; must be a key of `peers`."""
    peers: Mapping[str, str] = field(default_factory=dict)
    """Every replica's id -> "host:port", this one included (empty: a one-replica group)."""
    propose_timeout_s: float = 5.0
    """Deadline for committing one command (or confirming leadership for a read)."""
    raft: RaftConfig = field(default_factory=lambda: RaftConfig(lease_reads=True))
    """The Raft runtime's timers and limits (e.g. CAIRN_METADATA_RAFT_TICK_S); linearizable
    reads use the leader's lease (CAIRN_METADATA_RAFT_LEASE_READS=false: a read-index round each)."""
    host: str = "127.0.0.1"
    """Address the gRPC server binds."""
    port: int = ports.METADATA
    """gRPC port (0 picks a free one)."""
    shards: int = 8
    """Number of object shards; fixed when the data directory is created."""
    synchronous: str = "NORMAL"
    """SQLite `synchronous` pragma. The Raft log is the durable record (fsynced before a command
    is acknowledged) and a restart replays it onto the shards, so NORMAL (no fsync per commit,
    never a corrupt file) is enough."""
    cache_mb: int = 16
    """SQLite page cache per shard, MiB."""
    mmap_mb: int = 256
    """SQLite memory-mapped I/O window per shard, MiB (0 disables)."""
    intent_ttl_s: float = 3600.0
    """Default lifetime of a write intent before its blob counts as GC work."""
    root_access_key: str = ""
    """When set (with root_secret_key), the root user is ensured to own this access key."""
    root_secret_key: str = ""
    """Secret of the root access key."""
    region: str = "us-east-1"
    """Region reported for buckets created without one."""
    account_id: str = "000000000000"
    """Account number used in IAM ARNs."""
    master_keyring: Path | None = None
    """The cluster master keyring (JSON, cairn.sse_crypto.Keyring) sealing the KMS keys' material;
    $CAIRN_MASTER_KEYRING holding the keyring's text takes precedence. None: no KMS."""
    ops_port: int = 0
    """HTTP port of /metrics and /cairn/health/* (cairn.ops_http) on `host`; 0 = off."""

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= 256:
            raise ValueError("shards must be between 1 and 256")
        if self.synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be OFF, NORMAL, FULL or EXTRA")
        if self.intent_ttl_s <= 0:
            raise ValueError("intent_ttl_s must be positive")
        if bool(self.root_access_key) != bool(self.root_secret_key):
            raise ValueError("root_access_key and root_secret_key go together")
        if self.peers and self.id not in self.peers:
            raise ValueError(f"replica id {self.id!r} is not among peers {sorted(self.peers)}")

    def peer_map(self) -> dict[str, str]:
        """Peers including this replica (a one-replica group when none are configured)."""
        return dict(self.peers) or {self.id: f"{self.host}:{self.port}"}
