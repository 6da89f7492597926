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
- `pgs` are the *targets* (where new shards are written). `migrations[pg][slot]` lists, for a slot
  whose target moved and is not yet verified complete, the nodes that still hold its data (the
  *holders*) and the epoch of the move; a slot with no entry is synced (its holder is its target).
  Reads try the holders first and then the target; fault tolerance counts a slot only when every
  node with some of its shards (holders, and the target while migrating) serves.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections import Counter
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

    @property
    def full(self) -> bool:
        """The node reports its usage at or past its capacity (its disk is past the reserve):
        it keeps its slots but takes no new ones."""
        return is_full(self.capacity_bytes, self.used_bytes)


def is_full(capacity_bytes: int, used_bytes: int) -> bool:
    """Usage at or past a reported capacity (a node reporting no capacity is never full)."""
    return capacity_bytes > 0 and used_bytes >= capacity_bytes


@dataclass(frozen=True, slots=True)
class SlotMigration:
    """A slot whose target moved at `since_epoch` and is not yet verified to hold every shard.

    `holders` hold the slot's shards written before the current target took over: the target of
    the last synced layout first, then any target that came and went before the slot synced
    (with the shards written in its time). They stay listed until `SlotSynced`; empty when no
    node holds them any more (the slot must be rebuilt).
    """

    holders: tuple[str, ...]
    since_epoch: int


#: Per PG, per slot: the slot's pending migration (only slots that are not synced appear).
Migrations = Mapping[int, Mapping[int, SlotMigration]]


@dataclass(frozen=True, slots=True)
class ClusterMap:
    epoch: int
    k: int
    m: int
    pg_count: int
    nodes: Mapping[str, NodeInfo]
    pgs: tuple[tuple[str, ...], ...]  # pgs[pg][slot] = target node id, "" where no node could be placed
    migrations: Migrations = dataclasses.field(default_factory=dict)

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

    def holders_of(self, pg: int, slot: int) -> tuple[str, ...]:
        """The nodes holding the slot's shards written before its target took over (its target
        once synced); empty when none is left (the slot must be rebuilt)."""
        migration = self.migrations.get(pg, {}).get(slot)
        if migration is not None:
            return migration.holders
        target = self.pgs[pg][slot]
        return (target,) if target else ()

    def read_nodes(self, pg: int) -> tuple[tuple[NodeInfo, ...], ...]:
        """Per slot, the nodes a reader tries in order: the serving holders, then the target when
        it is serving and not among them (it has every shard written since the move)."""
        if not self.pgs:
            raise MapNotCreated("the cluster map has no placement groups yet")
        slots = []
        for slot, target in enumerate(self.pgs[pg]):
            ids = list(self.holders_of(pg, slot))
            if target and target not in ids:
                ids.append(target)
            found = (self.nodes.get(i) for i in ids)
            slots.append(tuple(n for n in found if n is not None and n.state in SERVING_STATES))
        return tuple(slots)

    def _serving(self, node_id: str) -> bool:
        node = self.nodes.get(node_id)
        return node is not None and node.state in SERVING_STATES

    def slot_healthy(self, pg: int, slot: int) -> bool:
        """Every shard of the slot is on a serving node: it has holders and they all serve, and
        while it migrates its target serves too (shards written since the move are only there)."""
        holders = self.holders_of(pg, slot)
        if not holders or not all(self._serving(h) for h in holders):
            return False
        return slot not in self.migrations.get(pg, {}) or self._serving(self.pgs[pg][slot])

    def healthy_slots(self, pg: int) -> int:
        """Slots of the PG whose every shard is on a serving node (`slot_healthy`)."""
        return sum(self.slot_healthy(pg, slot) for slot in range(len(self.pgs[pg])))

    def failures_tolerated(self, pg: int) -> int:
        """How many more node failures the PG can absorb and still read every blob (healthy slots - k).

        Counted on where the data is (`slot_healthy`), not on the targets: a slot whose old
        holder is down or out, or whose new target is not serving, does not count. Negative when
        fewer than k slots are healthy.
        """
        if not self.pgs:
            raise MapNotCreated("the cluster map has no placement groups yet")
        return self.healthy_slots(pg) - self.k

    def host_failures_tolerated(self, pg: int) -> int:
        """How many more whole-host failures the PG absorbs (hosts may hold several of its shards
        when there are fewer hosts than k+m). Takes out, one after another, the host whose loss
        costs the most healthy slots, until fewer than k are left; -1 when already below k."""
        if not self.pgs:
            raise MapNotCreated("the cluster map has no placement groups yet")
        slot_hosts: list[set[str]] = []
        for slot, target in enumerate(self.pgs[pg]):
            if not self.slot_healthy(pg, slot):
                continue
            ids = set(self.holders_of(pg, slot))
            if slot in self.migrations.get(pg, {}):
                ids.add(target)
            slot_hosts.append({self.nodes[i].host for i in ids if i in self.nodes})
        failures = -1
        while len(slot_hosts) >= self.k:
            failures += 1
            counts = Counter(h for hosts in slot_hosts for h in hosts)
            if not counts:
                break
            worst = max(sorted(counts), key=lambda h: counts[h])
            slot_hosts = [hosts for hosts in slot_hosts if worst not in hosts]
        return failures

    def degraded_pgs(self) -> list[int]:
        """PGs with at least one slot without a serving verified holder."""
        width = self.k + self.m
        return [pg for pg in range(len(self.pgs)) if self.failures_tolerated(pg) < width - self.k]

    def pending_slots(self, pg: int) -> list[int]:
        """Slots of the PG with a pending migration."""
        return sorted(self.migrations.get(pg, {}))

    def slots_held(self, node_id: str) -> int:
        """How many PG slots name `node_id` as a verified holder of their data."""
        return sum(
            node_id in self.holders_of(pg, slot)
            for pg in range(len(self.pgs))
            for slot in range(len(self.pgs[pg]))
        )

    def slots_per_node(self) -> dict[str, int]:
        """How many PG slots each node holds (nodes without slots map to 0)."""
        counts = dict.fromkeys(self.nodes, 0)
        for row in self.pgs:
            for node_id in row:
                if node_id:
                    counts[node_id] = counts.get(node_id, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class SlotWork:
    """One slot the repair service has to fill: a pending migration, or a shard on a node that is not serving."""

    slot: int
    target: str  # "" when no node could be placed
    holders: tuple[str, ...]  # nodes with the shards written before the target took over (copy sources)
    since_epoch: int  # the migration's epoch, for SlotSynced; 0 when the slot is synced but degraded


@dataclass(frozen=True, slots=True)
class PgWork:
    pg: int
    healthy_slots: int  # slots whose every shard is on a serving node
    failures_tolerated: int
    slots: tuple[SlotWork, ...]


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """The background-service lease: its holder, fencing token and expiry (wall clock, ms)."""

    holder: str
    token: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class RepairWork:
    """What ListRepairWork answers: PGs needing repair, fewest healthy slots first."""

    epoch: int
    paused: bool
    lease: LeaseGrant  # holder "" when no instance holds it
    pgs: tuple[PgWork, ...]


def repair_work(cmap: ClusterMap, limit: int = 0) -> tuple[PgWork, ...]:
    """PGs with a pending migration or an unhealthy slot (`slot_healthy`), ordered by fewest
    healthy slots (then PG number); at most `limit` PGs when `limit` > 0."""
    found = []
    for pg in range(len(cmap.pgs)):
        moving = cmap.migrations.get(pg, {})
        slots = []
        for slot, target in enumerate(cmap.pgs[pg]):
            mig = moving.get(slot)
            if mig is not None or not cmap.slot_healthy(pg, slot):
                holders = cmap.holders_of(pg, slot)
                slots.append(SlotWork(slot, target, holders, mig.since_epoch if mig is not None else 0))
        if slots:
            healthy = cmap.healthy_slots(pg)
            found.append(PgWork(pg, healthy, healthy - cmap.k, tuple(slots)))
    found.sort(key=lambda w: (w.healthy_slots, w.pg))
    return tuple(found[:limit] if limit > 0 else found)


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
