"""For contract tests of a gRPC service: record which RPCs a real in-process server was asked for.

A contract test starts the real servicer on `recording_server(recorder)` (127.0.0.1:0), calls
every RPC through the typed client with typed arguments, and asserts
`recorder.served == rpc_names(<module>_pb2.DESCRIPTOR.services_by_name[<service>])`, so a
client and a servicer that drift apart (a missing, renamed or unused RPC) fail the test.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import grpc.aio
from google.protobuf.descriptor import ServiceDescriptor


class Recorder(grpc.aio.ServerInterceptor):
    """A server interceptor that records the name of every RPC the server is asked for."""

    def __init__(self) -> None:
        self.served: set[str] = set()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        self.served.add(details.method.rpartition("/")[2])
        return await continuation(details)


def recording_server(recorder: Recorder) -> grpc.aio.Server:
    """A grpc.aio server whose calls `recorder` sees (the caller adds servicers and a port)."""
    return grpc.aio.server(interceptors=[recorder])


def rpc_names(service: ServiceDescriptor) -> set[str]:
    """The RPC names the contract declares for a service."""
    return {method.name for method in service.methods}
