"""The data node's value types: shard keys, shard descriptions, node statistics and states.

These frozen dataclasses and enums are what the store, the servicer and the typed client
exchange; `cairn.datanode.client` re-exports them and converts them to and from messages, so
callers never see generated protobuf types. Invariant (checked on construction): a shard key's
blob id is 16 bytes and its index fits 32 bits.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

BLOB_ID_BYTES = 16
#: The PG recorded for a tombstone of a key the node never held (a delete carries no PG):
#: ListShards of this PG shows such keys, dead, with length 0.
UNKNOWN_PG = 2**32 - 1
#: The PG recorded for a tombstone of a *released* copy (DeleteShards with `release`): dead like
#: any tombstone, but a later write of the key is stored instead of refused.
RELEASED_PG = 2**32 - 2


class ShardState(enum.StrEnum):
    """A stored shard's state: readable, or deleted (a tombstone keeps the key dead)."""

    LIVE = "live"
    DEAD = "dead"


class NodeState(enum.StrEnum):
    """What a node says about itself: taking writes, at capacity, or shutting down."""

    UP = "up"
    FULL = "full"
    STOPPING = "stopping"

    @classmethod
    def of(cls, stopping: bool, used_bytes: int, capacity_bytes: int) -> NodeState:
        """Stopping wins; otherwise full once usage reaches capacity; otherwise up."""
        if stopping:
            return cls.STOPPING
        return cls.FULL if used_bytes >= capacity_bytes else cls.UP


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
    state: ShardState


@dataclass(frozen=True, slots=True)
class FailureDomain:
    """A node's failure-domain labels; a placement group puts its shards on nodes that differ."""

    zone: str
    rack: str
    host: str


@dataclass(frozen=True, slots=True)
class NodeStat:
    """What a node reports about itself (the Stat RPC)."""

    node_id: str | None  # None until the placement service assigned one
    capacity_bytes: int
    used_bytes: int  # bytes of volume files on disk (live and dead records)
    live_shards: int
    state: NodeState
    dead_shards: int
    volumes: int
    sealed_volumes: int
    labels: FailureDomain


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of a durable write: the shard, and whether it was already there."""

    info: ShardInfo
    already_present: bool
