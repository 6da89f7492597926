"""Typed async client of the placement service, used by data nodes, the API service and the admin CLI.

This module and `rpc_server.py` are the only placement modules that touch generated code; the
conversions between messages and the domain's values (`cluster_map.py`), and `ERRORS`, the
service's one table of domain errors and status codes, live here and serve both sides.

- Writes (heartbeat, node commands, cluster creation) go to the leader. The client remembers which
  replica led last; a follower's NotLeader answer names the leader (`cairn-leader` trailing
  metadata) and the client follows it; an unreachable replica or an election in progress makes it
  try the next replica, with short pauses, until the call's timeout. Then it raises
  PlacementUnavailable.
- Reads of the map go to any replica (the last leader first). The map is cached by epoch: the
  client sends its cached epoch and the server answers "not modified" when nothing changed; a map
  older than the cached one (from a lagging follower) is never returned, so epochs only move forward.
- `cluster_map(min_epoch=E)` returns the cache without a call when it is already at epoch >= E;
  with `wait_s > 0` the server holds the call until its epoch reaches E (long poll).
- Refusals raise their `PlacementError` class (NodeNotFound, InsufficientDomains, ...).
- For the background service: `repair_work` (a read), `acquire_lease`, `release_lease`,
  `slot_synced`, `set_repair_paused` (writes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar, cast

import grpc
import grpc.aio

from cairn.placement.cluster_map import (
    BlobPlacement,
    ClusterMap,
    HeartbeatReply,
    LeaseGrant,
    NodeAction,
    NodeInfo,
    NodeReport,
    NodeState,
    PgWork,
    RepairWork,
    ReplicaState,
    SlotMigration,
    SlotWork,
)
from cairn.placement.errors import (
    BadRequest,
    InternalError,
    NodeNotFound,
    PlacementError,
    PlacementUnavailable,
)
from cairn.proto import common_pb2, placement_pb2, placement_pb2_grpc
from cairn.replication import NoQuorum, NotLeader, PeerStatus
from cairn.rpc import ErrorTable, channel

__all__ = [
    "ERRORS",
    "BlobPlacement",
    "ClusterMap",
    "HeartbeatReply",
    "LeaseGrant",
    "NodeAction",
    "NodeInfo",
    "NodeState",
    "PlacementClient",
    "PlacementError",
    "PlacementUnavailable",
    "PgWork",
    "RepairWork",
    "ReplicaState",
    "SlotWork",
]

T = TypeVar("T")

#: Trailing metadata of a NotLeader refusal: the leader's "host:port", when known.
LEADER_KEY = "cairn-leader"


def _leader_hint(exc: Exception) -> Sequence[tuple[str, str]]:
    if isinstance(exc, NotLeader) and exc.leader_addr:
        return ((LEADER_KEY, exc.leader_addr),)
    return ()


def _rebuild(cls: type[Exception], message: str, trailers: Mapping[str, str]) -> Exception:
    if cls is NotLeader:
        return NotLeader(None, trailers.get(LEADER_KEY))
    return cls(message)


ERRORS = ErrorTable(
    {
        NotLeader: grpc.StatusCode.FAILED_PRECONDITION,
        NoQuorum: grpc.StatusCode.UNAVAILABLE,
        NodeNotFound: grpc.StatusCode.NOT_FOUND,
        BadRequest: grpc.StatusCode.INVALID_ARGUMENT,
        PlacementError: grpc.StatusCode.FAILED_PRECONDITION,  # NodeRemoved, AlreadyCreated, ...
    },
    unavailable=PlacementUnavailable,
    internal=InternalError,
    encode=_leader_hint,
    decode=_rebuild,
)

# -- messages <-> values (both directions, for the client and the servicer) ---------------------

_ACTIONS = {
    NodeAction.DRAIN: placement_pb2.NODE_ACTION_DRAIN,
    NodeAction.OUT: placement_pb2.NODE_ACTION_OUT,
    NodeAction.IN: placement_pb2.NODE_ACTION_IN,
    NodeAction.REMOVE: placement_pb2.NODE_ACTION_REMOVE,
}
_ACTIONS_FROM_PB = {pb: action for action, pb in _ACTIONS.items()}


def action_from_pb(action: placement_pb2.NodeAction) -> NodeAction:
    found = _ACTIONS_FROM_PB.get(action)
    if found is None:
        raise BadRequest(f"unknown node action {action}")
    return found


def node_to_pb(node: NodeInfo) -> placement_pb2.Node:
    return placement_pb2.Node(
        id=node.id,
        addr=node.addr,
        domain=common_pb2.FailureDomain(zone=node.zone, rack=node.rack, host=node.host),
        state=node.state.value,
        capacity_bytes=node.capacity_bytes,
        used_bytes=node.used_bytes,
        last_heartbeat_ms=node.last_heartbeat_ms,
    )


def node_from_pb(node: placement_pb2.Node) -> NodeInfo:
    return NodeInfo(
        node.id,
        node.addr,
        node.domain.zone,
        node.domain.rack,
        node.domain.host,
        NodeState(node.state),
        node.capacity_bytes,
        node.used_bytes,
        node.last_heartbeat_ms,
    )


def map_to_pb(cmap: ClusterMap) -> placement_pb2.ClusterMap:
    return placement_pb2.ClusterMap(
        epoch=cmap.epoch,
        k=cmap.k,
        m=cmap.m,
        pg_count=cmap.pg_count,
        nodes=[node_to_pb(n) for n in cmap.nodes.values()],
        pgs=[
            placement_pb2.PgRow(
                node_ids=list(row),
                migrations=[
                    placement_pb2.SlotMigration(
                        slot=slot, holders=list(mig.holders), since_epoch=mig.since_epoch
                    )
                    for slot, mig in sorted(cmap.migrations.get(pg, {}).items())
                ],
            )
            for pg, row in enumerate(cmap.pgs)
        ],
    )


def map_from_pb(pb: placement_pb2.ClusterMap) -> ClusterMap:
    nodes = {n.id: node_from_pb(n) for n in pb.nodes}
    migrations = {
        pg: {m.slot: SlotMigration(tuple(m.holders), m.since_epoch) for m in row.migrations}
        for pg, row in enumerate(pb.pgs)
        if row.migrations
    }
    pgs = tuple(tuple(r.node_ids) for r in pb.pgs)
    return ClusterMap(pb.epoch, pb.k, pb.m, pb.pg_count, nodes, pgs, migrations)


def repair_work_to_pb(work: RepairWork) -> placement_pb2.ListRepairWorkResponse:
    return placement_pb2.ListRepairWorkResponse(
        epoch=work.epoch,
        repair_paused=work.paused,
        lease_holder=work.lease.holder,
        lease_token=work.lease.token,
        lease_expires_ms=work.lease.expires_ms,
        pgs=[
            placement_pb2.PgWork(
                pg=p.pg,
                healthy_slots=p.healthy_slots,
                failures_tolerated=p.failures_tolerated,
                slots=[
                    placement_pb2.SlotWork(
                        slot=s.slot, target=s.target, holders=list(s.holders), since_epoch=s.since_epoch
                    )
                    for s in p.slots
                ],
            )
            for p in work.pgs
        ],
    )


def repair_work_from_pb(pb: placement_pb2.ListRepairWorkResponse) -> RepairWork:
    pgs = tuple(
        PgWork(
            p.pg,
            p.healthy_slots,
            p.failures_tolerated,
            tuple(SlotWork(s.slot, s.target, tuple(s.holders), s.since_epoch) for s in p.slots),
        )
        for p in pb.pgs
    )
    return RepairWork(
        pb.epoch, pb.repair_paused, LeaseGrant(pb.lease_holder, pb.lease_token, pb.lease_expires_ms), pgs
    )


def report_to_pb(report: NodeReport) -> placement_pb2.HeartbeatRequest:
    return placement_pb2.HeartbeatRequest(
        node_id=report.node_id or "",
        addr=report.addr,
        domain=common_pb2.FailureDomain(zone=report.zone, rack=report.rack, host=report.host),
        capacity_bytes=report.capacity_bytes,
        used_bytes=report.used_bytes,
    )


def report_from_pb(request: placement_pb2.HeartbeatRequest) -> NodeReport:
    if not request.addr:
        raise BadRequest("heartbeat without an address")
    domain = request.domain
    return NodeReport(
        request.node_id or None,
        request.addr,
        domain.zone,
        domain.rack,
        domain.host or request.addr,
        request.capacity_bytes,
        request.used_bytes,
    )


def placement_to_pb(placement: BlobPlacement) -> placement_pb2.GetPlacementResponse:
    nodes = [node_to_pb(n) if n is not None else placement_pb2.Node() for n in placement.nodes]
    return placement_pb2.GetPlacementResponse(epoch=placement.epoch, pg=placement.pg, nodes=nodes)


def placement_from_pb(reply: placement_pb2.GetPlacementResponse) -> BlobPlacement:
    nodes = tuple(node_from_pb(n) if n.id else None for n in reply.nodes)
    return BlobPlacement(reply.epoch, reply.pg, nodes)


def replica_state_to_pb(state: ReplicaState) -> placement_pb2.GetStatusResponse:
    return placement_pb2.GetStatusResponse(
        replica_id=state.id,
        role=state.role,
        term=state.term,
        leader_id=state.leader_id,
        leader_addr=state.leader_addr,
        commit_index=state.commit_index,
        applied_index=state.applied_index,
        epoch=state.epoch,
        map_created=state.map_created,
        config_k=state.config_k,
        config_m=state.config_m,
        config_pg_count=state.config_pg_count,
        peers=[
            placement_pb2.ReplicaHealth(
                id=p.id, addr=p.addr, reachable=p.reachable, match_index=p.match_index
            )
            for p in state.peers
        ],
    )


def replica_state_from_pb(addr: str, reply: placement_pb2.GetStatusResponse) -> ReplicaState:
    """The state of the replica at `addr` (the address the caller reached it at)."""
    return ReplicaState(
        addr=addr,
        reachable=True,
        id=reply.replica_id,
        role=reply.role,
        term=reply.term,
        leader_id=reply.leader_id,
        leader_addr=reply.leader_addr,
        commit_index=reply.commit_index,
        applied_index=reply.applied_index,
        epoch=reply.epoch,
        map_created=reply.map_created,
        config_k=reply.config_k,
        config_m=reply.config_m,
        config_pg_count=reply.config_pg_count,
        peers=tuple(PeerStatus(p.id, p.addr, p.reachable, p.match_index) for p in reply.peers),
    )


# -- the client --------------------------------------------------------------------------------


class PlacementClient:
    def __init__(self, addrs: Sequence[str]) -> None:
        if not addrs:
            raise ValueError("PlacementClient needs at least one replica address")
        self._addrs = list(dict.fromkeys(addrs))
        self._leader: str | None = None
        self._channels: dict[str, tuple[grpc.aio.Channel, placement_pb2_grpc.PlacementAsyncStub]] = {}
        self._map: ClusterMap | None = None

    async def heartbeat(
        self,
        node_id: str | None,
        addr: str,
        zone: str,
        rack: str,
        host: str,
        capacity_bytes: int,
        used_bytes: int,
        timeout: float = 5.0,
    ) -> HeartbeatReply:
        """Report a data node alive (node_id None on its first heartbeat: the reply assigns one)."""
        request = report_to_pb(NodeReport(node_id, addr, zone, rack, host, capacity_bytes, used_bytes))
        reply = await self._write(lambda stub, t: stub.Heartbeat(request, timeout=t), timeout)
        return HeartbeatReply(reply.node_id, reply.epoch)

    async def cluster_map(self, min_epoch: int = 0, wait_s: float = 0.0) -> ClusterMap:
        """The map (cached by epoch); with `wait_s` > 0 waits for epoch `min_epoch` (long poll)."""
        cached = self._map
        if cached is not None and min_epoch > 0 and cached.epoch >= min_epoch:
            return cached
        request = placement_pb2.GetClusterMapRequest(
            known_epoch=cached.epoch if cached else 0, min_epoch=min_epoch, wait_s=wait_s
        )
        reply = await self._read(
            lambda stub, t: stub.GetClusterMap(request, timeout=t), wait_s + 5.0, wait_s + 2.0
        )
        if reply.not_modified or (cached is not None and reply.epoch <= cached.epoch):
            if cached is None:
                raise PlacementUnavailable("placement replica answered 'not modified' without a cached map")
            return cached
        self._map = map_from_pb(reply.map)
        return self._map

    async def placement_of(self, blob_id: bytes, timeout: float = 5.0) -> BlobPlacement:
        """One blob's PG and nodes, as a replica's map has them (MapNotCreated before creation)."""
        request = placement_pb2.GetPlacementRequest(blob_id=blob_id)
        reply = await self._read(lambda stub, t: stub.GetPlacement(request, timeout=t), timeout, timeout)
        return placement_from_pb(reply)

    async def node_command(
        self, node_id: str, action: NodeAction, timeout: float = 10.0, force: bool = False
    ) -> int:
        """Drain, out, in or remove a node; returns the new epoch (NodeNotFound, NodeRemoved,
        NodeHoldsData for a remove of a node still holding data without `force`, ...)."""
        request = placement_pb2.NodeCommandRequest(node_id=node_id, action=_ACTIONS[action], force=force)
        reply = await self._write(lambda stub, t: stub.NodeCommand(request, timeout=t), timeout)
        return reply.epoch

    async def create_cluster(self, timeout: float = 10.0) -> int:
        """Create the PG table now; returns the new epoch (InsufficientDomains if too few hosts)."""
        request = placement_pb2.CreateClusterRequest()
        reply = await self._write(lambda stub, t: stub.CreateCluster(request, timeout=t), timeout)
        return reply.epoch

    async def repair_work(self, limit: int = 0, timeout: float = 5.0) -> RepairWork:
        """PGs needing repair (fewest healthy slots first), the pause flag and the lease."""
        request = placement_pb2.ListRepairWorkRequest(limit=limit)
        reply = await self._read(lambda stub, t: stub.ListRepairWork(request, timeout=t), timeout, timeout)
        return repair_work_from_pb(reply)

    async def acquire_lease(self, holder: str, ttl_s: float, timeout: float = 5.0) -> LeaseGrant:
        """Take or renew the background-service lease (LeaseHeld while another holds it)."""
        request = placement_pb2.AcquireLeaseRequest(holder=holder, ttl_s=ttl_s)
        reply = await self._write(lambda stub, t: stub.AcquireLease(request, timeout=t), timeout)
        return LeaseGrant(holder, reply.token, reply.expires_ms)

    async def release_lease(self, holder: str, token: int, timeout: float = 5.0) -> None:
        request = placement_pb2.ReleaseLeaseRequest(holder=holder, token=token)
        await self._write(lambda stub, t: stub.ReleaseLease(request, timeout=t), timeout)

    async def slot_synced(
        self, pg: int, slot: int, node_id: str, since_epoch: int, lease_token: int, timeout: float = 5.0
    ) -> int:
        """End a slot's migration (LeaseLost, StaleMigration); returns the new map epoch."""
        request = placement_pb2.SlotSyncedRequest(
            pg=pg, slot=slot, node_id=node_id, since_epoch=since_epoch, lease_token=lease_token
        )
        reply = await self._write(lambda stub, t: stub.SlotSynced(request, timeout=t), timeout)
        return reply.epoch

    async def set_repair_paused(self, paused: bool, timeout: float = 5.0) -> None:
        request = placement_pb2.SetRepairPausedRequest(paused=paused)
        await self._write(lambda stub, t: stub.SetRepairPaused(request, timeout=t), timeout)

    async def replica_states(self, timeout: float = 2.0) -> list[ReplicaState]:
        """Every replica's status, asked in parallel; unreachable ones are marked so."""

        async def one(addr: str) -> ReplicaState:
            try:
                with ERRORS.translated():
                    reply = await self._stub(addr).GetStatus(
                        placement_pb2.GetStatusRequest(), timeout=timeout
                    )
            except PlacementUnavailable:
                self._drop(addr)
                return ReplicaState(addr, reachable=False, error="unreachable")
            except PlacementError as exc:
                return ReplicaState(addr, reachable=False, error=f"failed ({exc.reason})")
            return replica_state_from_pb(addr, reply)

        return list(await asyncio.gather(*(one(a) for a in self._addrs)))

    async def close(self) -> None:
        channels, self._channels = [ch for ch, _ in self._channels.values()], {}
        for ch in channels:
            await ch.close()

    # -- plumbing -------------------------------------------------------------------------------

    def _stub(self, addr: str) -> placement_pb2_grpc.PlacementAsyncStub:
        entry = self._channels.get(addr)
        if entry is None:
            ch = channel(addr, server_role="placement")
            stub = cast("placement_pb2_grpc.PlacementAsyncStub", placement_pb2_grpc.PlacementStub(ch))
            entry = self._channels[addr] = (ch, stub)
        return entry[1]

    def _drop(self, addr: str) -> None:
        # A fresh channel reconnects at once; a failed one would wait out gRPC's reconnect backoff.
        entry = self._channels.pop(addr, None)
        if entry is not None:
            asyncio.get_running_loop().create_task(entry[0].close())

    def _order(self) -> list[str]:
        first = [self._leader] if self._leader else []
        return first + [a for a in self._addrs if a != self._leader]

    async def _read(
        self,
        call: Callable[[placement_pb2_grpc.PlacementAsyncStub, float], Awaitable[T]],
        timeout: float,
        attempt: float,
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        errors: list[str] = []
        for addr in self._order():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                with ERRORS.translated():
                    # a hung (e.g. paused) replica costs one attempt, not the whole timeout
                    return await call(self._stub(addr), min(remaining, attempt))
            except PlacementUnavailable:
                self._drop(addr)
                if self._leader == addr:
                    self._leader = None
                errors.append(f"{addr} unreachable")
        raise PlacementUnavailable(f"placement service unreachable: {', '.join(errors) or 'timed out'}")

    async def _write(
        self, call: Callable[[placement_pb2_grpc.PlacementAsyncStub, float], Awaitable[T]], timeout: float
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = "no replica tried"
        pause = 0.05
        redirects = 0
        dead_rounds = 0
        while True:
            redirected = False
            unreachable = 0
            for addr in self._order():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    with ERRORS.translated():
                        result = await call(self._stub(addr), min(remaining, 5.0))
                    self._leader = addr
                    return result
                except NotLeader as exc:
                    leader = exc.leader_addr
                    last = f"{addr} is not the leader (leader: {leader or 'unknown, election in progress'})"
                    if leader and leader != addr:
                        if leader not in self._addrs:
                            self._addrs.append(leader)
                        self._leader, redirected = leader, True
                        break
                except NoQuorum as exc:
                    last = f"{addr}: {exc}"
                except PlacementUnavailable:
                    self._drop(addr)
                    unreachable += 1
                    if self._leader == addr:
                        self._leader = None
                    last = f"{addr} unreachable"
            remaining = deadline - loop.time()
            dead_rounds = dead_rounds + 1 if unreachable == len(self._addrs) else 0
            if dead_rounds >= 3:  # nobody answers at all: fail fast
                raise PlacementUnavailable(f"placement service unreachable: no replica answers ({last})")
            if remaining <= 0:
                raise PlacementUnavailable(f"placement service has no reachable leader: {last}")
            redirects = redirects + 1 if redirected else 0
            if not redirected or redirects > 2:  # stale leader hints can point back and forth
                await asyncio.sleep(min(pause, remaining))
                pause = min(pause * 2, 0.5)
