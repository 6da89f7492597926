"""The Gc gRPC servicer: requests to `GcService` calls, results to messages, errors at the edge."""

from __future__ import annotations

import grpc.aio

from cairn import rpc
from cairn.gc.client import ERRORS, result_to_pb, status_to_pb
from cairn.gc.service import GcService
from cairn.proto import gc_pb2, gc_pb2_grpc


class GcServicer(gc_pb2_grpc.GcServicer):
    def __init__(self, service: GcService) -> None:
        self._service = service

    @rpc.edge(ERRORS)
    async def RunOnce(
        self, request: gc_pb2.RunOnceRequest, context: grpc.aio.ServicerContext
    ) -> gc_pb2.RunOnceResponse:
        results = await self._service.run_once(tuple(request.workers))
        return gc_pb2.RunOnceResponse(results=[result_to_pb(r) for r in results])

    @rpc.edge(ERRORS)
    async def Status(
        self, request: gc_pb2.StatusRequest, context: grpc.aio.ServicerContext
    ) -> gc_pb2.StatusResponse:
        return gc_pb2.StatusResponse(workers=[status_to_pb(s) for s in await self._service.status()])


async def start_server(service: GcService, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """Serve `service` on host:port (0: a free port); returns the server and the bound port."""
    server = rpc.server()
    gc_pb2_grpc.add_GcServicer_to_server(GcServicer(service), server)
    bound = rpc.bind(server, f"{host}:{port}")
    await server.start()
    return server, bound
