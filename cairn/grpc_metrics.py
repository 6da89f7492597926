"""Request metrics of every gRPC server: `GrpcMetrics`, the interceptor every `cairn.rpc.server()`
carries. It counts requests by service, method and status code (`cairn_grpc_requests_total`),
their duration (`cairn_grpc_request_duration_seconds`), and the serialized bytes of the messages
received and sent (`cairn_grpc_received_bytes_total`, `cairn_grpc_sent_bytes_total`). On a data
node these are its shard reads (ReadShard), writes (WriteShard, PutShard) and errors (code != OK).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from cairn.metrics import LATENCY_BUCKETS

GRPC_REQUESTS = Counter(
    "cairn_grpc_requests",
    "gRPC requests served, by service, method and status code",
    ["service", "method", "code"],
)
GRPC_DURATION = Histogram(
    "cairn_grpc_request_duration_seconds",
    "Time from a gRPC request's arrival to its status, by service and method",
    ["service", "method"],
    buckets=LATENCY_BUCKETS,
)
GRPC_RECEIVED = Counter(
    "cairn_grpc_received_bytes", "Serialized bytes of the request messages received", ["service", "method"]
)
GRPC_SENT = Counter(
    "cairn_grpc_sent_bytes", "Serialized bytes of the response messages sent", ["service", "method"]
)


def _split(full_method: str) -> tuple[str, str]:
    """ "/pkg.Service/Method" -> ("pkg.Service", "Method")."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def _size(message: Any) -> int:
    size = getattr(message, "ByteSize", None)
    return int(size()) if size is not None else 0


class _Call:
    """The bookkeeping of one RPC: its labels, start time and outcome."""

    def __init__(self, full_method: str) -> None:
        self.service, self.method = _split(full_method)
        self.started = time.perf_counter()
        self.received = 0
        self.sent = 0

    @classmethod
    def start(cls, full_method: str, request: Any, streamed: bool) -> tuple[_Call, Any]:
        """A new call, and its request (a stream of them wrapped to count their bytes)."""
        call = cls(full_method)
        if streamed:
            return call, _counted(call, request)
        call.received = _size(request)
        return call, request

    @contextlib.contextmanager
    def measured(self, context: grpc.aio.ServicerContext) -> Iterator[None]:
        """Record the call once the block ends, with the error it raised, if any."""
        try:
            yield
        except BaseException as exc:
            self.finish(context, exc)
            raise
        self.finish(context, None)

    def finish(self, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
        code = context.code()
        if code is None:
            if error is None:
                code = grpc.StatusCode.OK
            elif isinstance(error, asyncio.CancelledError):
                code = grpc.StatusCode.CANCELLED
            else:
                code = grpc.StatusCode.UNKNOWN
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        GRPC_REQUESTS.labels(self.service, self.method, name).inc()
        GRPC_DURATION.labels(self.service, self.method).observe(time.perf_counter() - self.started)
        if self.received:
            GRPC_RECEIVED.labels(self.service, self.method).inc(self.received)
        if self.sent:
            GRPC_SENT.labels(self.service, self.method).inc(self.sent)


class GrpcMetrics(grpc.aio.ServerInterceptor):
    """Counts every RPC of the server it is given to (see the module doc)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        full_method = handler_call_details.method  # type: ignore[attr-defined]
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary_response(full_method, handler.unary_unary, streamed_request=False),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _unary_response(full_method, handler.stream_unary, streamed_request=True),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _stream_response(full_method, handler.unary_stream, streamed_request=False),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            _stream_response(full_method, handler.stream_stream, streamed_request=True),
            handler.request_deserializer,
            handler.response_serializer,
        )


async def _counted(call: _Call, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for message in requests:
        call.received += _size(message)
        yield message


def _unary_response(full_method: str, behavior: Any, streamed_request: bool) -> Any:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        call, request = _Call.start(full_method, request, streamed_request)
        with call.measured(context):
            response = await behavior(request, context)
            call.sent = _size(response)
        return response

    return handle


def _stream_response(full_method: str, behavior: Any, streamed_request: bool) -> Any:
    if not inspect.isasyncgenfunction(behavior):
        # a handler that writes with context.write() and returns: count the call, not the messages
        return _unary_response(full_method, behavior, streamed_request)

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        call, request = _Call.start(full_method, request, streamed_request)
        with call.measured(context):
            async for response in behavior(request, context):
                call.sent += _size(response)
                yield response

    return handle
