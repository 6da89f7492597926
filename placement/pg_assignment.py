"""Placement-group assignment: weighted rendezvous hashing over failure domains, moving minimal slots.

Each PG row has `k + m` slots; slot i holds shard i. The table is built once at cluster creation and
then only *edited*, never recomputed, so a node that joins or leaves moves only the slots it gains or
loses:

- Score of node n for PG p: `ln(u) / w`, u = blake2b-64("n/p") mapped into (0, 1), w = capacity
  (weighted rendezvous hashing: the node with the highest score wins, each node with probability
  proportional to its weight).
- Filling an empty slot picks the highest-scoring *eligible* node (state `up`, and not
  full: its reported usage below its capacity) whose `host` label is
  not yet in the row (a hard rule while such a node exists). With fewer hosts than `k + m`, a host
  may take more slots of a row, never more than `per_host` (the best-ranked node of the host with
  the fewest slots in the row first). Among those it prefers nodes whose zone and rack have not reached
  their fair share of the row, `ceil((k+m) * domain weight / total weight)`, so rows spread over zones
  and racks in proportion to their capacity; if no such node exists it takes the best host-distinct one.
- Vacating: slots of nodes that are `out`, `draining` or no longer in the map become empty and are
  refilled (a draining node keeps serving as the slots' old holder until repair has moved their
  data: see the state machine's layout history). `down` nodes keep their slots (down is
  temporary), and so do full nodes (they still serve), but neither is eligible for new ones.
- Admitting a node that joined (new, or back `in`): in every row where its score beats the weakest
  eligible member it may replace (host rule and zone/rack fair share kept), it takes that member's slot.
  This is exactly the set of rows a fresh rendezvous ranking would give it, so about 1/n of all slots
  move, and only to the joining node.

Creating a table when the distinct hosts among eligible nodes times `per_host` are fewer than `k + m`
raises InsufficientDomains.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from cairn.placement.cluster_map import NodeInfo, NodeState
from cairn.placement.errors import InsufficientDomains

Table = tuple[tuple[str, ...], ...]

#: States whose nodes keep the slots they hold.
_KEEPS_SLOTS = frozenset({NodeState.UP, NodeState.DOWN})


def score(node_id: str, pg: int, weight: float) -> float:
    """The weighted rendezvous score of a node for a PG (higher wins)."""
    digest = hashlib.blake2b(f"{node_id}/{pg}".encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)
    return math.log(u) / weight


def weight_of(node: NodeInfo) -> float:
    """A node's weight: its capacity in bytes (at least 1, so an empty report still places)."""
    return float(max(node.capacity_bytes, 1))


def effective_weight(share: float) -> float:
    """The rendezvous weight that gives a node `share` = P(node in a PG) when picking k+m of n.

    Picking several nodes per PG without replacement gives heavy nodes less than their weight
    share (the "multipick anomaly"). Seen as an exponential race, a node of weight w is among the
    first k+m arrivals with probability about 1 - exp(-w t), t the time of the (k+m)-th arrival
    (Che's approximation); choosing w = -ln(1 - share) makes that probability equal `share`
    (t = 1 then solves sum(shares) = k+m). Shares at or above 1 are capped: such a node is in
    every PG.
    """
    return -math.log(1.0 - min(share, 0.999))


def count_domains(nodes: Mapping[str, NodeInfo]) -> int:
    """Distinct `host` labels among eligible (up, not full) nodes."""
    return len({n.host for n in nodes.values() if takes_slots(n)})


def takes_slots(node: NodeInfo) -> bool:
    """Whether a node may be given new slots: up, and its disk not full (a full node keeps its own)."""
    return node.state == NodeState.UP and not node.full


def create_table(pg_count: int, k: int, m: int, nodes: Mapping[str, NodeInfo], per_host: int = 1) -> Table:
    """A fresh table for `pg_count` PGs of `k + m` slots, at most `per_host` of a row per host;
    raises InsufficientDomains."""
    width = k + m
    available = count_domains(nodes)
    if available * per_host < width:
        raise InsufficientDomains(
            f"cannot create the cluster map: {available} failure domain(s) (distinct hosts among up "
            f"nodes that are not full) at most {per_host} shard(s) each, but each placement group needs {width} (k+m)"
        )
    empty: Table = tuple(("",) * width for _ in range(pg_count))
    return _Planner(width, nodes, per_host=per_host).edit(empty, ())


def rebalance(
    table: Table,
    k: int,
    m: int,
    nodes: Mapping[str, NodeInfo],
    joined: Iterable[str] = (),
    pinned: frozenset[str] = frozenset(),
    per_host: int = 1,
) -> Table:
    """The table after node changes: vacate departed nodes, fill empty slots, admit `joined` nodes.

    `pinned` nodes keep their slots whatever their state (nodes drained by a version-1 command,
    which kept them)."""
    return _Planner(k + m, nodes, pinned, per_host).edit(table, tuple(joined))


class _Planner:
    """Per-call scratch state: eligible nodes and zone/rack fair shares of a row."""

    def __init__(
        self,
        width: int,
        nodes: Mapping[str, NodeInfo],
        pinned: frozenset[str] = frozenset(),
        per_host: int = 1,
    ) -> None:
        self.width = width
        self.nodes = nodes
        self.pinned = pinned
        self.per_host = max(per_host, 1)
        self.eligible = sorted(n.id for n in nodes.values() if takes_slots(n))
        capacity = {n.id: weight_of(n) for n in nodes.values()}
        total = sum(capacity[i] for i in self.eligible) or 1.0
        self.weights = {i: effective_weight(width * w / total) for i, w in capacity.items()}
        zone_w: dict[str, float] = defaultdict(float)
        rack_w: dict[tuple[str, str], float] = defaultdict(float)
        for node_id in self.eligible:
            node = nodes[node_id]
            zone_w[node.zone] += capacity[node_id]
            rack_w[(node.zone, node.rack)] += capacity[node_id]
        self.zone_cap = {z: math.ceil(width * w / total - 1e-9) for z, w in zone_w.items()}
        self.rack_cap = {r: math.ceil(width * w / total - 1e-9) for r, w in rack_w.items()}

    def edit(self, table: Table, joined: Sequence[str]) -> Table:
        rows = []
        admit = [j for j in joined if j in self.nodes and takes_slots(self.nodes[j])]
        for pg, old in enumerate(table):
            row = [n if n and n in self.nodes and self._keeps(n) else "" for n in old]
            if len(row) != self.width:
                raise ValueError(f"PG {pg} has {len(row)} slots, expected {self.width}")
            if "" not in row and not admit:
                rows.append(tuple(row))
                continue
            scores = {n: score(n, pg, self.weights[n]) for n in self.eligible}
            ranked = sorted(self.eligible, key=lambda n: (scores[n], n), reverse=True)
            self._fill(row, ranked)
            if admit:
                # a fresh fill keeps the unmovable (down or full) members and re-picks the rest
                fresh = [n if n and not takes_slots(self.nodes[n]) else "" for n in row]
                self._fill(fresh, ranked)
                for node_id in admit:
                    if node_id in fresh:
                        self._admit(row, node_id, fresh, scores)
            rows.append(tuple(row))
        return tuple(rows)

    def _keeps(self, node_id: str) -> bool:
        return node_id in self.pinned or self.nodes[node_id].state in _KEEPS_SLOTS

    def _fill(self, row: list[str], ranked: Sequence[str]) -> None:
        """Fill the empty slots of `row` in slot order (see the module doc for the rule)."""
        members = [self.nodes[n] for n in row if n]
        hosts = Counter(m.host for m in members)
        zones = Counter(m.zone for m in members)
        racks = Counter((m.zone, m.rack) for m in members)
        for slot in range(self.width):
            if row[slot]:
                continue
            pick = self._pick(ranked, hosts, zones, racks)
            if not pick and self.per_host > 1:
                pick = self._shared_host(ranked, hosts)
            row[slot] = pick
            if pick:
                node = self.nodes[pick]
                hosts[node.host] += 1
                zones[node.zone] += 1
                racks[(node.zone, node.rack)] += 1

    def _shared_host(self, ranked: Sequence[str], hosts: Counter[str]) -> str:
        """With every host in the row already: the best-ranked node of a host with the fewest
        slots in the row, below `per_host` ("" when every host is at the limit)."""
        best = ""
        for node_id in ranked:
            count = hosts[self.nodes[node_id].host]
            if count < self.per_host and (not best or count < hosts[self.nodes[best].host]):
                best = node_id
        return best

    def _pick(
        self, ranked: Sequence[str], hosts: Counter[str], zones: Counter[str], racks: Counter[tuple[str, str]]
    ) -> str:
        """The best-ranked host-distinct node, preferring zone and rack (then zone) within fair share."""
        zone_only = any_host = ""
        for node_id in ranked:
            node = self.nodes[node_id]
            if hosts[node.host]:  # also excludes the row's own members
                continue
            if zones[node.zone] < self.zone_cap.get(node.zone, 0):
                rack = (node.zone, node.rack)
                if racks[rack] < self.rack_cap.get(rack, 0):
                    return node_id
                zone_only = zone_only or node_id
            any_host = any_host or node_id
        return zone_only or any_host

    def _admit(self, row: list[str], node_id: str, fresh: Sequence[str], scores: Mapping[str, float]) -> None:
        """Give `node_id` (which the fresh fill of this row includes) the slot of a member it dropped.

        Prefers a dropped member in the joining node's own zone and rack, then the weakest, so
        exactly one slot moves, and only to the joining node.
        """
        if node_id in row:
            return
        node = self.nodes[node_id]
        dropped = [n for n in row if n and self.nodes[n].state == NodeState.UP and n not in fresh]

        def preference(n: str) -> tuple[bool, bool, float, str]:
            other = self.nodes[n]
            return (other.zone != node.zone, (other.zone, other.rack) != (node.zone, node.rack), scores[n], n)

        for victim in sorted(dropped, key=preference):
            if node.host not in {self.nodes[n].host for n in row if n and n != victim}:
                row[row.index(victim)] = node_id
                return
