"""The data node's value types: shard keys, shard descriptions and node statistics.

These frozen dataclasses are what the store, the servicer and the typed client exchange;
`cairn.datanode.client` re-exports them, so callers never see generated protobuf types.
Invariants (checked on construction): a blob id is 16 bytes, a shard index and a PG are
non-negative, lengths are non-negative.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

BLOB_ID_BYTES = 16
#: The PG recorded for a tombstone of a key the node never held (a delete carries no PG):
#: ListShards of this PG shows such keys, dead, with length 0.
UNKNOWN_PG = 2**32 - 1


class ShardState(enum.StrEnum):
    LIVE = "live"
    DEAD = "dead"


@dataclass(frozen=True, slots=True, order=True)
class ShardKey:
    """Shard `index` (0 .. k+m-1) of blob `blob_id`; ordered as (blob_id, index)."""

    blob_id: bytes  # 16 bytes
    index: int  # 0 .. k+m-1

    def __post_init__(self) -> None:
        if len(self.blob_id) != BLOB_ID_BYTES:
            raise ValueError(f"blob id must be {BLOB_ID_BYTES} bytes, got {len(self.blob_id)}")
        if not 0 <= self.index < 2**32:
            raise ValueError(f"shard index out of range: {self.index}")

    def __str__(self) -> str:
        return f"{self.blob_id.hex()}/{self.index}"


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """One stored shard as the index describes it."""

    key: ShardKey
    pg: int
    length: int
    crc32c: int  # of the whole shard
    state: str  # "live" | "dead"


@dataclass(frozen=True, slots=True)
class NodeStat:
    """What a node reports about itself."""

    node_id: str | None
    capacity_bytes: int
    used_bytes: int
    live_shards: int
    state: str  # "up" | "full" | "stopping"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of a durable write: the shard, and whether it was already there."""

    info: ShardInfo
    already_present: bool
