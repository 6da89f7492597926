"""Configuration of the background service (one frozen dataclass, loaded with cairn.config.load).

Environment overrides use the prefix `CAIRN_GC_`, e.g. `CAIRN_GC_INTERVAL_S=5`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn import ports


@dataclass(frozen=True, slots=True)
class GcConfig:
    host: str = "127.0.0.1"
    """Address the gRPC server binds."""
    port: int = ports.GC
    """gRPC port (0 picks a free one)."""
    ops_port: int = 0
    """HTTP port of /metrics and /cairn/health/* (cairn.ops_http) on `host`; 0 = off."""
    placement: tuple[str, ...] = (ports.local(ports.PLACEMENT),)
    """Placement replicas ("host:port"); the data nodes' addresses come from their cluster map."""
    metadata: str = ports.local(ports.METADATA)
    """The metadata replicas ("host:port,host:port,...")."""
    interval_s: float = 60.0
    """Time between two passes of each worker on its timer."""
    batch: int = 500
    """Blobs taken from the GC queue per request to the metadata service."""
    concurrency: int = 8
    """Blobs whose shards are deleted at the same time."""
    max_blobs_per_s: float = 200.0
    """Throttle: blobs reclaimed per second at most (0: no limit)."""
    multipart_max_age_s: float = 7 * 86400.0
    """Incomplete multipart uploads initiated longer ago than this are aborted."""
    orphan_grace_s: float = 3600.0
    """A shard metadata does not know is deleted once it has been seen unknown this long."""
    orphan_shards_per_s: float = 500.0
    """Throttle: orphan shards deleted per second at most (0: no limit)."""
    lifecycle_day_s: float = 86400.0
    """The length of a lifecycle rule's day, in seconds (shortened in tests only)."""
    repair_interval_s: float = 30.0
    """Time between two passes of the repair worker on its timer."""
    sweep_s: float = 3600.0
    """The timed passes of the repair worker and the orphan sweep list every placement group of
    every node once per this period, a share each pass (repair also lists, every pass, the PGs
    placement or a repair report names); `cairn admin gc run --once` lists them all. 0: every
    timed pass lists them all."""
    repair_concurrency: int = 4
    """Blobs the repair worker copies or rebuilds at the same time."""
    repair_mb_per_s: float = 64.0
    """Throttle: MiB of shards the repair worker writes per second at most (0: no limit)."""
    repair_lease_ttl_s: float = 30.0
    """The gc service lease's time to live (every worker needs the lease; renewed every third of it)."""

    def __post_init__(self) -> None:
        if self.interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if not 1 <= self.batch <= 10_000:
            raise ValueError("batch must be between 1 and 10000")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.max_blobs_per_s < 0 or self.orphan_shards_per_s < 0:
            raise ValueError("max_blobs_per_s and orphan_shards_per_s must not be negative")
        if self.multipart_max_age_s < 0 or self.orphan_grace_s < 0:
            raise ValueError("multipart_max_age_s and orphan_grace_s must not be negative")
        if self.lifecycle_day_s <= 0:
            raise ValueError("lifecycle_day_s must be positive")
        if self.repair_interval_s <= 0 or self.repair_lease_ttl_s <= 0:
            raise ValueError("repair_interval_s and repair_lease_ttl_s must be positive")
        if self.sweep_s < 0:
            raise ValueError("sweep_s must not be negative")
        if self.repair_concurrency < 1:
            raise ValueError("repair_concurrency must be at least 1")
        if self.repair_mb_per_s < 0:
            raise ValueError("repair_mb_per_s must not be negative")
        if not self.placement:
            raise ValueError("placement needs at least one host:port")
