"""The gRPC servicer of the metadata service (one of the two modules touching the stubs).

Every RPC `Foo` of `cairn.metadata.v1.Metadata` calls `MetadataService.foo` (CamelCase to
snake_case): request fields become keyword arguments by name (`wire.call_args`, typed by the
method's hints) and the returned value goes into the response's `result` field. A
`MetadataError` ends the call with its status code and its class name as the reason
(cairn.rpc), plus `cairn-version-id`, `cairn-delete-marker` and `cairn-last-modified-ms`
trailing metadata when the error carries them (a GET that hits a delete marker).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import grpc
import grpc.aio

from cairn import rpc
from cairn.metadata import wire
from cairn.metadata.errors import InternalError, InvalidArgument, MetadataError
from cairn.metadata.service import MetadataService
from cairn.proto import metadata_pb2

SERVICE_NAME = "cairn.metadata.v1.Metadata"
VERSION_ID_KEY = "cairn-version-id"
DELETE_MARKER_KEY = "cairn-delete-marker"
LAST_MODIFIED_KEY = "cairn-last-modified-ms"

log = logging.getLogger(__name__)


def method_name(rpc_name: str) -> str:
    """`ListObjectsV2` -> `list_objects_v2`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", rpc_name).lower()


async def abort_with(context: grpc.aio.ServicerContext, err: MetadataError) -> NoReturn:
    trailing: list[tuple[str, str]] = [(rpc.REASON_KEY, err.reason)]
    if err.version_id is not None:
        trailing.append((VERSION_ID_KEY, err.version_id))
    if err.is_delete_marker:
        trailing.append((DELETE_MARKER_KEY, "true"))
    if err.last_modified_ms:
        trailing.append((LAST_MODIFIED_KEY, str(err.last_modified_ms)))
    context.set_trailing_metadata(tuple(trailing))
    await context.abort(err.grpc_code, err.message)
    raise AssertionError("unreachable: context.abort raises")  # pragma: no cover


def _handler(
    service: MetadataService, rpc_name: str, response_cls: Any
) -> Callable[[Any, Any], Awaitable[Any]]:
    name = method_name(rpc_name)
    unbound = getattr(type(service), name)
    has_result = "result" in response_cls.DESCRIPTOR.fields_by_name

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            try:
                kwargs = wire.call_args(request, unbound)
            except ValueError as exc:
                raise InvalidArgument(f"bad request: {exc}") from exc
            result = await getattr(service, name)(**kwargs)
        except MetadataError as err:
            await abort_with(context, err)
        except Exception as exc:
            log.exception("%s failed", rpc_name)
            await abort_with(context, InternalError(f"{rpc_name}: {type(exc).__name__}"))
        response = response_cls()
        if has_result:
            wire.set_field(response, "result", result)
        return response

    return handle


def generic_handler(service: MetadataService) -> grpc.GenericRpcHandler:
    descriptor = metadata_pb2.DESCRIPTOR.services_by_name["Metadata"]
    handlers = {}
    for method in descriptor.methods:
        request_cls = getattr(metadata_pb2, method.input_type.name)
        response_cls = getattr(metadata_pb2, method.output_type.name)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _handler(service, method.name, response_cls),
            request_deserializer=request_cls.FromString,
            response_serializer=response_cls.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


async def start_server(service: MetadataService, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """Start serving `service` on host:port (0 picks a port); returns (server, bound port)."""
    server = rpc.server()
    server.add_generic_rpc_handlers((generic_handler(service),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind {host}:{port}")
    await server.start()
    return server, bound
