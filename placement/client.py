"""Typed async client of the placement service, used by data nodes, the API service and the admin CLI.

- Writes (heartbeat, node commands, cluster creation) go to the leader. The client remembers which
  replica led last; a follower's NotLeader answer names the leader (`cairn-leader` metadata) and the
  client follows it; an unreachable replica or an election in progress makes it try the next
  replica, with short pauses, until the call's timeout. Then it raises PlacementUnavailable.
- Reads of the map go to any replica (the last leader first). The map is cached by epoch: the
  client sends its cached epoch and the server answers "not modified" when nothing changed; a map
  older than the cached one (from a lagging follower) is never returned, so epochs only move forward.
- `cluster_map(min_epoch=E)` returns the cache without a call when it is already at epoch >= E;
  with `wait_s > 0` the server holds the call until its epoch reaches E (long poll).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import grpc
import grpc.aio

from cairn.placement.cluster_map import ClusterMap, HeartbeatReply, NodeInfo
from cairn.proto import common_pb2, placement_pb2, placement_pb2_grpc
from cairn.rpc import channel, reason_of, status_of

__all__ = [
    "ClusterMap",
    "HeartbeatReply",
    "NodeInfo",
    "PlacementClient",
    "PlacementError",
    "PlacementUnavailable",
    "ReplicaState",
]

T = TypeVar("T")
LEADER_KEY = "cairn-leader"
_ACTIONS = {
    "drain": placement_pb2.NODE_ACTION_DRAIN,
    "out": placement_pb2.NODE_ACTION_OUT,
    "in": placement_pb2.NODE_ACTION_IN,
    "remove": placement_pb2.NODE_ACTION_REMOVE,
}
#: gRPC codes meaning "this replica cannot answer now, try another".
_RETRY_ELSEWHERE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


class PlacementUnavailable(Exception):
    """No replica reachable, or no leader (no quorum) for a write."""


class PlacementError(Exception):
    """The placement service refused a request; `reason` is machine-readable (e.g. NodeNotFound)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ReplicaState:
    """One replica's answer to GetStatus (or `reachable=False` with the error)."""

    def __init__(self, addr: str, reply: placement_pb2.GetStatusResponse | None, error: str = "") -> None:
        self.addr = addr
        self.reachable = reply is not None
        self.error = error
        self.id = reply.replica_id if reply else ""
        self.role = reply.role if reply else ""
        self.term = reply.term if reply else 0
        self.leader_id = reply.leader_id if reply else ""
        self.leader_addr = reply.leader_addr if reply else ""
        self.commit_index = reply.commit_index if reply else 0
        self.applied_index = reply.applied_index if reply else 0
        self.epoch = reply.epoch if reply else 0
        self.map_created = reply.map_created if reply else False
        self.config_width = reply.config_k + reply.config_m if reply else 0  # k+m the map is created with
        self.peers = [(p.id, p.addr, p.reachable, p.match_index) for p in reply.peers] if reply else []


def node_from_pb(node: placement_pb2.Node) -> NodeInfo:
    return NodeInfo(
        node.id,
        node.addr,
        node.domain.zone,
        node.domain.rack,
        node.domain.host,
        node.state,
        node.capacity_bytes,
        node.used_bytes,
        node.last_heartbeat_ms,
    )


def map_from_pb(pb: placement_pb2.ClusterMap) -> ClusterMap:
    nodes = {n.id: node_from_pb(n) for n in pb.nodes}
    return ClusterMap(pb.epoch, pb.k, pb.m, pb.pg_count, nodes, tuple(tuple(r.node_ids) for r in pb.pgs))


class PlacementClient:
    def __init__(self, addrs: Sequence[str]) -> None:
        if not addrs:
            raise ValueError("PlacementClient needs at least one replica address")
        self._addrs = list(dict.fromkeys(addrs))
        self._leader: str | None = None
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._map: ClusterMap | None = None

    # -- the agreed interface -------------------------------------------------------------------

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
        request = placement_pb2.HeartbeatRequest(
            node_id=node_id or "",
            addr=addr,
            domain=common_pb2.FailureDomain(zone=zone, rack=rack, host=host),
            capacity_bytes=capacity_bytes,
            used_bytes=used_bytes,
        )
        reply = await self._write(lambda stub, t: stub.Heartbeat(request, timeout=t), timeout)
        return HeartbeatReply(reply.node_id, reply.epoch)

    async def cluster_map(self, min_epoch: int = 0, wait_s: float = 0.0) -> ClusterMap:
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

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for ch in channels:
            await ch.close()

    # -- operator calls (admin CLI) -------------------------------------------------------------

    async def node_command(self, node_id: str, action: str, timeout: float = 10.0) -> int:
        """drain | out | in | remove a node; returns the new epoch. Raises PlacementError/Unavailable."""
        if action not in _ACTIONS:
            raise ValueError(f"unknown node action {action!r}")
        request = placement_pb2.NodeCommandRequest(node_id=node_id, action=_ACTIONS[action])
        reply = await self._write(lambda stub, t: stub.NodeCommand(request, timeout=t), timeout)
        return int(reply.epoch)

    async def create_cluster(self, timeout: float = 10.0) -> int:
        """Create the PG table now; returns the new epoch (PlacementError InsufficientDomains if too few)."""
        request = placement_pb2.CreateClusterRequest()
        reply = await self._write(lambda stub, t: stub.CreateCluster(request, timeout=t), timeout)
        return int(reply.epoch)

    async def replica_states(self, timeout: float = 2.0) -> list[ReplicaState]:
        """Every replica's status, asked in parallel; unreachable ones are marked so."""

        async def one(addr: str) -> ReplicaState:
            try:
                stub = placement_pb2_grpc.PlacementStub(self._channel(addr))
                return ReplicaState(
                    addr, await stub.GetStatus(placement_pb2.GetStatusRequest(), timeout=timeout)
                )
            except grpc.RpcError as err:
                self._drop(addr)
                return ReplicaState(addr, None, _brief(err))

        return list(await asyncio.gather(*(one(a) for a in self._addrs)))

    # -- plumbing -------------------------------------------------------------------------------

    def _channel(self, addr: str) -> grpc.aio.Channel:
        ch = self._channels.get(addr)
        if ch is None:
            ch = self._channels[addr] = channel(addr)
        return ch

    def _drop(self, addr: str) -> None:
        # A fresh channel reconnects at once; a failed one would wait out gRPC's reconnect backoff.
        ch = self._channels.pop(addr, None)
        if ch is not None:
            asyncio.get_running_loop().create_task(ch.close())

    def _order(self) -> list[str]:
        first = [self._leader] if self._leader else []
        return first + [a for a in self._addrs if a != self._leader]

    async def _read(
        self,
        call: Callable[[placement_pb2_grpc.PlacementStub, float], Awaitable[T]],
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
                # a hung (e.g. paused) replica costs one attempt, not the whole timeout
                return await call(
                    placement_pb2_grpc.PlacementStub(self._channel(addr)), min(remaining, attempt)
                )
            except grpc.RpcError as err:
                if status_of(err) not in _RETRY_ELSEWHERE:
                    raise _refusal(err) from None
                self._drop(addr)
                if self._leader == addr:
                    self._leader = None
                errors.append(f"{addr} {_brief(err)}")
        raise PlacementUnavailable(f"placement service unreachable: {', '.join(errors) or 'timed out'}")

    async def _write(
        self, call: Callable[[placement_pb2_grpc.PlacementStub, float], Awaitable[T]], timeout: float
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
                    result = await call(
                        placement_pb2_grpc.PlacementStub(self._channel(addr)), min(remaining, 5.0)
                    )
                    self._leader = addr
                    return result
                except grpc.RpcError as err:
                    reason = reason_of(err)
                    if reason == "NotLeader":
                        leader = _leader_of(err)
                        last = (
                            f"{addr} is not the leader (leader: {leader or 'unknown, election in progress'})"
                        )
                        if leader and leader != addr:
                            if leader not in self._addrs:
                                self._addrs.append(leader)
                            self._leader, redirected = leader, True
                            break
                        continue
                    if reason == "NoQuorum":
                        last = f"{addr}: {_details(err)}"
                        continue
                    if status_of(err) not in _RETRY_ELSEWHERE:
                        raise _refusal(err) from None
                    self._drop(addr)
                    unreachable += 1
                    if self._leader == addr:
                        self._leader = None
                    last = f"{addr} {_brief(err)}"
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


def _leader_of(err: grpc.RpcError) -> str | None:
    for key, value in (err.trailing_metadata() or ()) if hasattr(err, "trailing_metadata") else ():
        if key == LEADER_KEY:
            return value if isinstance(value, str) else value.decode()
    return None


def _details(err: grpc.RpcError) -> str:
    details = err.details() if hasattr(err, "details") else None
    return str(details or status_of(err) or err)


def _brief(err: grpc.RpcError) -> str:
    """A short description of a transport failure, for messages."""
    code = status_of(err)
    if code == grpc.StatusCode.UNAVAILABLE:
        return "unreachable"
    return f"failed ({code.name.lower().replace('_', ' ') if code else 'error'})"


def _refusal(err: grpc.RpcError) -> PlacementError:
    return PlacementError(reason_of(err) or str(status_of(err)), _details(err))
