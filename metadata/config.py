"""Configuration of the metadata service (one frozen dataclass, loaded with cairn.config.load).

Environment overrides use the prefix `CAIRN_METADATA_`, e.g. `CAIRN_METADATA_SHARDS=16`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cairn import ports


@dataclass(frozen=True, slots=True)
class MetadataConfig:
    data_dir: Path = Path("data/metadata")
    """Directory holding catalog.sqlite and the object shard files."""
    host: str = "127.0.0.1"
    """Address the gRPC server binds."""
    port: int = ports.METADATA
    """gRPC port (0 picks a free one)."""
    shards: int = 8
    """Number of object shards; fixed when the data directory is created."""
    synchronous: str = "FULL"
    """SQLite `synchronous` pragma: FULL fsyncs the WAL at every commit (durable)."""
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
