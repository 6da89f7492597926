"""The placement gRPC servicer: translates messages to PlacementService calls and errors to statuses.

Error mapping (reason in the `cairn-reason` trailing metadata):
- NotLeader -> FAILED_PRECONDITION `NotLeader`, plus `cairn-leader` = the leader's "host:port" when known
- NoQuorum / commit timeout -> UNAVAILABLE `NoQuorum`
- NodeNotFound -> NOT_FOUND; NodeRemoved, InsufficientDomains, AlreadyCreated -> FAILED_PRECONDITION
- MapNotCreated (GetPlacement before creation) -> FAILED_PRECONDITION `MapNotCreated`
- malformed requests -> INVALID_ARGUMENT
"""

from __future__ import annotations

from typing import NoReturn

import grpc
import grpc.aio

from cairn.placement.cluster_map import ClusterMap, MapNotCreated, NodeInfo
from cairn.placement.service import Heartbeat, PlacementService
from cairn.placement.state_machine import CommandFailed
from cairn.proto import common_pb2, placement_pb2, placement_pb2_grpc
from cairn.replication import NoQuorum, NotLeader
from cairn.rpc import REASON_KEY, abort

LEADER_KEY = "cairn-leader"

_ACTIONS = {
    placement_pb2.NODE_ACTION_DRAIN: "drain",
    placement_pb2.NODE_ACTION_OUT: "out",
    placement_pb2.NODE_ACTION_IN: "in",
    placement_pb2.NODE_ACTION_REMOVE: "remove",
}

_COMMAND_CODES = {
    "NodeNotFound": grpc.StatusCode.NOT_FOUND,
    "BadCommand": grpc.StatusCode.INVALID_ARGUMENT,
}


def node_to_pb(node: NodeInfo) -> placement_pb2.Node:
    return placement_pb2.Node(
        id=node.id,
        addr=node.addr,
        domain=common_pb2.FailureDomain(zone=node.zone, rack=node.rack, host=node.host),
        state=node.state,
        capacity_bytes=node.capacity_bytes,
        used_bytes=node.used_bytes,
        last_heartbeat_ms=node.last_heartbeat_ms,
    )


def map_to_pb(cmap: ClusterMap) -> placement_pb2.ClusterMap:
    return placement_pb2.ClusterMap(
        epoch=cmap.epoch,
        k=cmap.k,
        m=cmap.m,
        pg_count=cmap.pg_count,
        nodes=[node_to_pb(n) for n in cmap.nodes.values()],
        pgs=[placement_pb2.PgRow(node_ids=list(row)) for row in cmap.pgs],
    )


class PlacementServicer(placement_pb2_grpc.PlacementServicer):
    def __init__(self, service: PlacementService) -> None:
        self.service = service

    async def Heartbeat(
        self, request: placement_pb2.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.HeartbeatResponse:
        if not request.addr:
            await abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, "BadRequest", "heartbeat without an address"
            )
        hb = Heartbeat(
            request.node_id or None,
            request.addr,
            request.domain.zone,
            request.domain.rack,
            request.domain.host or request.addr,
            request.capacity_bytes,
            request.used_bytes,
        )
        try:
            reply = await self.service.heartbeat(hb)
        except Exception as exc:  # noqa: BLE001 - translated below, re-raised if unknown
            await self._fail(context, exc)
        return placement_pb2.HeartbeatResponse(node_id=reply.node_id, epoch=reply.epoch)

    async def GetClusterMap(
        self, request: placement_pb2.GetClusterMapRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.GetClusterMapResponse:
        wait_s = min(max(request.wait_s, 0.0), 60.0)
        remaining = context.time_remaining()
        if remaining is not None:
            wait_s = min(wait_s, max(0.0, remaining - 0.5))
        cmap = await self.service.wait_for_epoch(request.min_epoch, wait_s)
        replica = self.service.replicator.node_id
        if request.known_epoch and request.known_epoch == cmap.epoch:
            return placement_pb2.GetClusterMapResponse(
                epoch=cmap.epoch, not_modified=True, replica_id=replica
            )
        return placement_pb2.GetClusterMapResponse(epoch=cmap.epoch, map=map_to_pb(cmap), replica_id=replica)

    async def GetPlacement(
        self, request: placement_pb2.GetPlacementRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.GetPlacementResponse:
        cmap = self.service.cluster_map()
        try:
            pg = cmap.pg_of(request.blob_id)
        except MapNotCreated as exc:
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION, "MapNotCreated", str(exc))
        nodes = [node_to_pb(n) if n is not None else placement_pb2.Node() for n in cmap.nodes_of(pg)]
        return placement_pb2.GetPlacementResponse(epoch=cmap.epoch, pg=pg, nodes=nodes)

    async def NodeCommand(
        self, request: placement_pb2.NodeCommandRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.NodeCommandResponse:
        action = _ACTIONS.get(request.action)
        if action is None or not request.node_id:
            await abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, "BadRequest", "need a node id and an action"
            )
        try:
            epoch = await self.service.node_command(request.node_id, action)
        except Exception as exc:  # noqa: BLE001
            await self._fail(context, exc)
        return placement_pb2.NodeCommandResponse(epoch=epoch)

    async def CreateCluster(
        self, request: placement_pb2.CreateClusterRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.CreateClusterResponse:
        try:
            epoch = await self.service.create_cluster()
        except Exception as exc:  # noqa: BLE001
            await self._fail(context, exc)
        return placement_pb2.CreateClusterResponse(epoch=epoch)

    async def GetStatus(
        self, request: placement_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.GetStatusResponse:
        status = self.service.status()
        return placement_pb2.GetStatusResponse(
            replica_id=status.id,
            role=status.role,
            term=status.term,
            leader_id=status.leader_id or "",
            leader_addr=self.service.leader_addr(status) or "",
            commit_index=status.commit_index,
            applied_index=status.applied_index,
            epoch=self.service.machine.epoch,
            map_created=self.service.machine.created,
            config_k=self.service.config.k,
            config_m=self.service.config.m,
            config_pg_count=self.service.config.pg_count,
            peers=[
                placement_pb2.ReplicaHealth(
                    id=p.id, addr=p.addr, reachable=p.reachable, match_index=p.match_index
                )
                for p in status.peers
            ],
        )

    async def _fail(self, context: grpc.aio.ServicerContext, exc: Exception) -> NoReturn:
        if isinstance(exc, NotLeader):
            leader = exc.leader_addr or (self.service.peers.get(exc.leader_id) if exc.leader_id else None)
            metadata = [(REASON_KEY, "NotLeader")] + ([(LEADER_KEY, leader)] if leader else [])
            context.set_trailing_metadata(tuple(metadata))
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"not the placement leader (leader: {exc.leader_id or 'unknown'})",
            )
        if isinstance(exc, NoQuorum | TimeoutError):
            await abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                "NoQuorum",
                f"placement change not committed: no quorum of replicas ({exc})",
            )
        if isinstance(exc, CommandFailed):
            code = _COMMAND_CODES.get(exc.reason, grpc.StatusCode.FAILED_PRECONDITION)
            await abort(context, code, exc.reason, exc.message)
        raise exc
