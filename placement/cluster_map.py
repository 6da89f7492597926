"""The cluster map as clients see it: data nodes, their failure domains and health, and the PG table.

These are immutable values (frozen, slotted dataclasses). The placement state machine builds a new
`ClusterMap` after every change, each with a larger `epoch`; a map with a given epoch never changes.
Invariants:
- `pgs` is empty until the cluster is created; afterwards it has exactly `pg_count` rows of `k + m`
  slots each. Slot `i` of a PG holds shard `i` of every blob in that PG ("" when no node could be
  placed there).
- Within a row no node id appears twice and no two nodes share a `host` label.
- `pg_of` is a pure function of the blob id and `pg_count`, fixed for the life of the cluster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

#: Node states: `up` serves and takes new slots; `down` missed heartbeats (keeps its slots, reads
#: skip it); `draining` serves but takes no new slots; `out` holds no slots.
UP, DOWN, OUT, DRAINING = "up", "down", "out", "draining"
NODE_STATES = (UP, DOWN, OUT, DRAINING)

#: States whose nodes answer reads and writes for the slots they hold.
SERVING_STATES = frozenset({UP, DRAINING})


class MapNotCreated(Exception):
    """The cluster map has no placement groups yet (too few failure domains have heart-beaten)."""


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    node_id: str
    epoch: int


@dataclass(frozen=True, slots=True)
class NodeInfo:
    id: str
    addr: str  # data node gRPC "host:port"
    zone: str
    rack: str
    host: str
    state: str  # "up" | "down" | "out" | "draining"
    capacity_bytes: int
    used_bytes: int
    last_heartbeat_ms: int


@dataclass(frozen=True, slots=True)
class ClusterMap:
    epoch: int
    k: int
    m: int
    pg_count: int
    nodes: Mapping[str, NodeInfo]
    pgs: tuple[tuple[str, ...], ...]  # pgs[pg][slot] = node id, "" where no node could be placed

    @property
    def created(self) -> bool:
        """True once the placement-group table exists."""
        return bool(self.pgs)

    def pg_of(self, blob_id: bytes) -> int:
        """The placement group of a blob: blake2b-64 of its id, mod the PG count."""
        if self.pg_count <= 0:
            raise MapNotCreated("the cluster map has no placement groups yet")
        return int.from_bytes(hashlib.blake2b(bytes(blob_id), digest_size=8).digest(), "big") % self.pg_count

    def nodes_of(self, pg: int) -> tuple[NodeInfo | None, ...]:
        """The nodes of a PG in slot order (slot i holds shard i); None for an unplaced slot."""
        if not self.pgs:
            raise MapNotCreated("the cluster map has no placement groups yet")
        return tuple(self.nodes.get(node_id) if node_id else None for node_id in self.pgs[pg])

    def failures_tolerated(self, pg: int) -> int:
        """How many more node failures the PG can absorb and still read (serving slots - k).

        Negative when the PG already has fewer than k serving shards.
        """
        serving = sum(1 for node in self.nodes_of(pg) if node is not None and node.state in SERVING_STATES)
        return serving - self.k

    def degraded_pgs(self) -> list[int]:
        """PGs with at least one slot that is unplaced or on a node that is not serving."""
        width = self.k + self.m
        return [pg for pg in range(len(self.pgs)) if self.failures_tolerated(pg) < width - self.k]

    def slots_per_node(self) -> dict[str, int]:
        """How many PG slots each node holds (nodes without slots map to 0)."""
        counts = dict.fromkeys(self.nodes, 0)
        for row in self.pgs:
            for node_id in row:
                if node_id:
                    counts[node_id] = counts.get(node_id, 0) + 1
        return counts
