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
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from cairn.grpc_wrap import HandlerInterceptor, rewrap
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


def _reading(deserialize: Callable[[bytes], Any] | None, counter: Any) -> Callable[[bytes], Any]:
    """The request deserializer, counting the bytes it is given (what arrived on the wire)."""

    def read(data: bytes) -> Any:
        counter.inc(len(data))
        return deserialize(data) if deserialize is not None else data

    return read


def _writing(serialize: Callable[[Any], bytes] | None, counter: Any) -> Callable[[Any], bytes]:
    """The response serializer, counting the bytes it makes. (Counting here, rather than with
    `ByteSize()`, costs nothing: upb's ByteSize serializes the message once more to measure it.)"""

    def write(message: Any) -> bytes:
        data = serialize(message) if serialize is not None else message
        counter.inc(len(data))
        return data

    return write


class _MethodMetrics:
    """One method's metric children, looked up once (a `labels()` lookup takes a lock and
    hashes the label tuple; every call of the method would otherwise repeat it)."""

    def __init__(self, full_method: str) -> None:
        self.service, self.method = _split(full_method)
        self.duration = GRPC_DURATION.labels(self.service, self.method)
        self.requests: dict[str, Any] = {}

    def count(self, code_name: str) -> None:
        child = self.requests.get(code_name)
        if child is None:
            child = self.requests[code_name] = GRPC_REQUESTS.labels(self.service, self.method, code_name)
        child.inc()


class _Call:
    """The bookkeeping of one RPC: its method's metrics, start time and outcome."""

    __slots__ = ("metrics", "started")

    def __init__(self, metrics: _MethodMetrics) -> None:
        self.metrics = metrics
        self.started = time.perf_counter()

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
        self.metrics.count(name)
        self.metrics.duration.observe(time.perf_counter() - self.started)


class GrpcMetrics(HandlerInterceptor):
    """Counts every RPC of the server it is given to (see the module doc)."""

    def wrap(self, handler: Any, full_method: str) -> grpc.RpcMethodHandler:
        metrics = _MethodMetrics(full_method)
        labels = (metrics.service, metrics.method)
        codec = (
            _reading(handler.request_deserializer, GRPC_RECEIVED.labels(*labels)),
            _writing(handler.response_serializer, GRPC_SENT.labels(*labels)),
        )
        return rewrap(
            handler,
            lambda behavior, _streamed: _unary_response(metrics, behavior),
            lambda behavior, _streamed: _stream_response(metrics, behavior),
            codec,
        )


def _unary_response(metrics: _MethodMetrics, behavior: Any) -> Any:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        call = _Call(metrics)
        with call.measured(context):
            return await behavior(request, context)

    return handle


def _stream_response(metrics: _MethodMetrics, behavior: Any) -> Any:
    if not inspect.isasyncgenfunction(behavior):
        # a handler that writes with context.write() and returns: one call, however many messages
        return _unary_response(metrics, behavior)

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        call = _Call(metrics)
        with call.measured(context):
            async for response in behavior(request, context):
                yield response

    return handle
