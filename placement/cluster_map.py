"""The cluster map as clients see it: data nodes, their failure domains and state, and the PG table.

These are immutable values (frozen, slotted dataclasses), with the node states and operator actions
as enums, plus what one replica reports about itself (`ReplicaState`). The placement state machine builds a new
`ClusterMap` after every change, each with a larger `epoch`; a map with a given epoch never changes.
Invariants:
- `pgs` is empty until the cluster is created; afterwards it has exactly `pg_count` rows of `k + m`
  slots each. Slot `i` of a PG holds shard `i` of every blob in that PG ("" when no node could be
  placed there).
- Within a row no node id appears twice and no two nodes share a `host` label.
- `pg_of` is a pure function of the blob id and `pg_count`, fixed for the life of the cluster.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from cairn.placement.errors import MapNotCreated
from cairn.replication import PeerStatus


class NodeState(enum.StrEnum):
    """A node's state as clients see it (the state machine derives it from health and admin state).

    `up` serves and takes new slots; `down` missed heartbeats (keeps its slots, reads skip it);
    `out` holds no slots; `draining` serves but takes no new slots. The values are the words the
    wire, the admin CLI and its JSON use.
    """

    UP = "up"
    DOWN = "down"
    OUT = "out"
    DRAINING = "draining"


#: States whose nodes answer reads and writes for the slots they hold.
SERVING_STATES = frozenset({NodeState.UP, NodeState.DRAINING})


class NodeAction(enum.StrEnum):
    """An operator's command on one node (`cairn admin node ACTION ID`)."""

    DRAIN = "drain"  # keep serving, take no new slots
    OUT = "out"  # give up every slot (the data is rebuilt elsewhere)
    IN = "in"  # take slots again
    REMOVE = "remove"  # forget the node; its id is never reused


@dataclass(frozen=True, slots=True)
class NodeReport:
    """What a data node's heartbeat says about it (`node_id` None until it has been given one)."""

    node_id: str | None
    addr: str  # data node gRPC "host:port"
    zone: str
    rack: str
    host: str
    capacity_bytes: int
    used_bytes: int


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    node_id: str  # the node's id (assigned on its first heartbeat)
    epoch: int


@dataclass(frozen=True, slots=True)
class NodeInfo:
    id: str
    addr: str  # data node gRPC "host:port"
    zone: str
    rack: str
    host: str
    state: NodeState
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


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """What one placement replica reports about itself (GetStatus), or that it did not answer."""

    addr: str
    reachable: bool
    error: str = ""  # why it did not answer ("" when reachable)
    id: str = ""
    role: str = ""  # "leader" | "follower" | "candidate" | "pre-candidate"
    term: int = 0
    leader_id: str = ""
    leader_addr: str = ""
    commit_index: int = 0
    applied_index: int = 0
    epoch: int = 0
    map_created: bool = False
    config_k: int = 0  # the layout this replica would create the map with
    config_m: int = 0
    config_pg_count: int = 0
    peers: tuple[PeerStatus, ...] = ()  # as the leader sees them (empty on a follower)

    @property
    def config_width(self) -> int:
        """k + m of the layout this replica would create the map with."""
        return self.config_k + self.config_m


@dataclass(frozen=True, slots=True)
class BlobPlacement:
    """Where one blob lives in the map of `epoch`: its PG and the PG's nodes in slot order."""

    epoch: int
    pg: int
    nodes: tuple[NodeInfo | None, ...]  # None for an unplaced slot
