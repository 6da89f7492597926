"""A placement replica's metrics and readiness, read from its Raft status and cluster map at scrape
time (no hooks in the state machine).

Raft: `cairn_raft_term`, `cairn_raft_leader` (1 on the leader), `cairn_raft_has_leader`,
`cairn_raft_commit_index`, `cairn_raft_applied_index`, `cairn_raft_apply_lag` (committed entries
not applied yet), and on the leader `cairn_raft_peer_reachable{peer}` and
`cairn_raft_peer_lag{peer}` (committed entries a peer has not acknowledged).

Map: `cairn_placement_epoch`, `cairn_placement_created`, `cairn_placement_nodes{state}`,
`cairn_placement_pgs`, `cairn_placement_degraded_pgs`, `cairn_placement_pgs_by_redundancy{failures_tolerated}`
(how many more node failures each PG can absorb and still be read: m for a healthy PG, below 0 for
one that cannot be read), and per node `cairn_placement_node_capacity_bytes`,
`..._used_bytes`, `..._slots` and `..._up` (1 when its state is up).

Ready (`/cairn/health/ready`): this replica knows a leader.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cairn.ops_http import Health
from cairn.placement.cluster_map import NodeState
from cairn.placement.service import PlacementService


class PlacementCollector(Collector):
    def __init__(self, service: PlacementService) -> None:
        self.service = service

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._raft()
        yield from self._map()

    def _raft(self) -> Iterator[GaugeMetricFamily]:
        status = self.service.replica_state()
        leading = status.role == "leader"
        yield GaugeMetricFamily("cairn_raft_term", "Current Raft term", value=status.term)
        yield GaugeMetricFamily("cairn_raft_leader", "1 when this replica is the leader", value=int(leading))
        yield GaugeMetricFamily(
            "cairn_raft_has_leader",
            "1 when this replica knows a leader",
            value=int(bool(status.leader_id)),
        )
        yield GaugeMetricFamily(
            "cairn_raft_commit_index", "Highest committed log index", value=status.commit_index
        )
        yield GaugeMetricFamily(
            "cairn_raft_applied_index", "Highest applied log index", value=status.applied_index
        )
        yield GaugeMetricFamily(
            "cairn_raft_apply_lag",
            "Committed entries not applied yet",
            value=max(0, status.commit_index - status.applied_index),
        )
        if leading:
            reachable = GaugeMetricFamily(
                "cairn_raft_peer_reachable", "1 when the leader reaches the peer", labels=["peer"]
            )
            lag = GaugeMetricFamily(
                "cairn_raft_peer_lag", "Committed entries the peer has not acknowledged", labels=["peer"]
            )
            for peer in status.peers:
                reachable.add_metric([peer.id], int(peer.reachable))
                lag.add_metric([peer.id], max(0, status.commit_index - peer.match_index))
            yield reachable
            yield lag

    def _map(self) -> Iterator[GaugeMetricFamily]:
        cmap = self.service.cluster_map()
        yield GaugeMetricFamily("cairn_placement_epoch", "Epoch of the cluster map", value=cmap.epoch)
        yield GaugeMetricFamily(
            "cairn_placement_created", "1 once the placement-group table exists", value=int(cmap.created)
        )
        states = Counter(n.state for n in cmap.nodes.values())
        nodes = GaugeMetricFamily("cairn_placement_nodes", "Data nodes by state", labels=["state"])
        for state in NodeState:
            nodes.add_metric([state.value], states.get(state, 0))
        yield nodes
        slots = cmap.slots_per_node()
        capacity = GaugeMetricFamily(
            "cairn_placement_node_capacity_bytes", "Capacity a data node reports", labels=["node"]
        )
        used = GaugeMetricFamily(
            "cairn_placement_node_used_bytes", "Usage a data node reports", labels=["node"]
        )
        held = GaugeMetricFamily("cairn_placement_node_slots", "PG slots a data node holds", labels=["node"])
        up = GaugeMetricFamily(
            "cairn_placement_node_up", "1 when the data node's state is up", labels=["node"]
        )
        for node_id, node in sorted(cmap.nodes.items()):
            capacity.add_metric([node_id], node.capacity_bytes)
            used.add_metric([node_id], node.used_bytes)
            held.add_metric([node_id], slots.get(node_id, 0))
            up.add_metric([node_id], int(node.state == NodeState.UP))
        yield from (capacity, used, held, up)
        yield GaugeMetricFamily("cairn_placement_pgs", "Placement groups", value=len(cmap.pgs))
        yield GaugeMetricFamily(
            "cairn_placement_degraded_pgs",
            "PGs with a slot unplaced or on a node that is not serving",
            value=len(cmap.degraded_pgs()) if cmap.created else 0,
        )
        redundancy = GaugeMetricFamily(
            "cairn_placement_pgs_by_redundancy",
            "PGs by how many more node failures each can absorb and still be read",
            labels=["failures_tolerated"],
        )
        tolerated = Counter(cmap.failures_tolerated(pg) for pg in range(len(cmap.pgs)))
        for value in range(min([0, *tolerated]), cmap.m + 1):
            redundancy.add_metric([str(value)], tolerated.get(value, 0))
        yield redundancy


async def readiness(service: PlacementService) -> Health:
    status = service.replica_state()
    detail = {"role": status.role, "term": status.term, "leader": status.leader_id, "epoch": status.epoch}
    return Health(bool(status.leader_id), detail)
