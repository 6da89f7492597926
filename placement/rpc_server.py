"""The placement gRPC servicer: requests become PlacementService calls, values become replies.

Conversions and the error table (`ERRORS`) live in `client.py`, shared with the client. Every
method is wrapped with `cairn.rpc.edge(ERRORS)`, which ends a call that raised a domain error
with its status code and reason (the class name, in the `cairn-reason` trailing metadata):
- NotLeader -> FAILED_PRECONDITION, plus `cairn-leader` = the leader's "host:port" when known
- NoQuorum -> UNAVAILABLE
- NodeNotFound -> NOT_FOUND; BadRequest (a malformed request) -> INVALID_ARGUMENT
- every other PlacementError (NodeRemoved, AlreadyCreated, InsufficientDomains, MapNotCreated,
  BadCommand, NodeHoldsData, LeaseHeld, LeaseLost, StaleMigration) -> FAILED_PRECONDITION
Anything else is a bug: INTERNAL, with the traceback logged.
"""

from __future__ import annotations

import grpc.aio

from cairn.placement.client import (
    ERRORS,
    action_from_pb,
    map_to_pb,
    placement_to_pb,
    repair_work_to_pb,
    replica_state_to_pb,
    report_from_pb,
)
from cairn.placement.errors import BadRequest
from cairn.placement.service import PlacementService
from cairn.proto import placement_pb2, placement_pb2_grpc
from cairn.rpc import edge

#: The longest a GetClusterMap long poll is held, whatever the request asks.
MAX_WAIT_S = 60.0


class PlacementServicer(placement_pb2_grpc.PlacementServicer):
    def __init__(self, service: PlacementService) -> None:
        self.service = service

    @edge(ERRORS)
    async def Heartbeat(
        self, request: placement_pb2.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.HeartbeatResponse:
        reply = await self.service.heartbeat(report_from_pb(request))
        return placement_pb2.HeartbeatResponse(node_id=reply.node_id, epoch=reply.epoch)

    @edge(ERRORS)
    async def GetClusterMap(
        self, request: placement_pb2.GetClusterMapRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.GetClusterMapResponse:
        wait_s = min(max(request.wait_s, 0.0), MAX_WAIT_S)
        remaining = context.time_remaining()
        if remaining is not None:  # answer before the caller's deadline, not after
            wait_s = min(wait_s, max(0.0, remaining - 0.5))
        cmap = await self.service.wait_for_epoch(request.min_epoch, wait_s)
        replica = self.service.replicator.node_id
        if request.known_epoch and request.known_epoch == cmap.epoch:
            return placement_pb2.GetClusterMapResponse(
                epoch=cmap.epoch, not_modified=True, replica_id=replica
            )
        return placement_pb2.GetClusterMapResponse(epoch=cmap.epoch, map=map_to_pb(cmap), replica_id=replica)

    @edge(ERRORS)
    async def GetPlacement(
        self, request: placement_pb2.GetPlacementRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.GetPlacementResponse:
        return placement_to_pb(self.service.placement_of(request.blob_id))

    @edge(ERRORS)
    async def NodeCommand(
        self, request: placement_pb2.NodeCommandRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.NodeCommandResponse:
        if not request.node_id:
            raise BadRequest("need a node id and an action")
        epoch = await self.service.node_command(
            request.node_id, action_from_pb(request.action), request.force
        )
        return placement_pb2.NodeCommandResponse(epoch=epoch)

    @edge(ERRORS)
    async def CreateCluster(
        self, request: placement_pb2.CreateClusterRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.CreateClusterResponse:
        return placement_pb2.CreateClusterResponse(epoch=await self.service.create_cluster())

    @edge(ERRORS)
    async def GetStatus(
        self, request: placement_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.GetStatusResponse:
        return replica_state_to_pb(self.service.replica_state())

    @edge(ERRORS)
    async def ListRepairWork(
        self, request: placement_pb2.ListRepairWorkRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.ListRepairWorkResponse:
        return repair_work_to_pb(self.service.repair_work(request.limit))

    @edge(ERRORS)
    async def AcquireLease(
        self, request: placement_pb2.AcquireLeaseRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.AcquireLeaseResponse:
        grant = await self.service.acquire_lease(request.holder, request.ttl_s)
        return placement_pb2.AcquireLeaseResponse(token=grant.token, expires_ms=grant.expires_ms)

    @edge(ERRORS)
    async def ReleaseLease(
        self, request: placement_pb2.ReleaseLeaseRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.ReleaseLeaseResponse:
        await self.service.release_lease(request.holder, request.token)
        return placement_pb2.ReleaseLeaseResponse()

    @edge(ERRORS)
    async def SlotSynced(
        self, request: placement_pb2.SlotSyncedRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.SlotSyncedResponse:
        if not request.node_id:
            raise BadRequest("need the slot's target node id")
        epoch = await self.service.slot_synced(
            request.pg, request.slot, request.node_id, request.since_epoch, request.lease_token
        )
        return placement_pb2.SlotSyncedResponse(epoch=epoch)

    @edge(ERRORS)
    async def SetRepairPaused(
        self, request: placement_pb2.SetRepairPausedRequest, context: grpc.aio.ServicerContext
    ) -> placement_pb2.SetRepairPausedResponse:
        await self.service.set_repair_paused(request.paused)
        return placement_pb2.SetRepairPausedResponse()


def add_to_server(server: grpc.aio.Server, service: PlacementService) -> None:
    """Register the placement servicer for `service` on a gRPC server."""
    placement_pb2_grpc.add_PlacementServicer_to_server(PlacementServicer(service), server)
