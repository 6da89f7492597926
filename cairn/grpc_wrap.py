"""Wrapping a gRPC server method handler's behaviour, whatever its kind (for interceptors).

`HandlerInterceptor` is a server interceptor that replaces every method's handler with what its
`wrap(handler, full_method)` returns.

A handler is one of four kinds (unary or streamed request, unary or streamed response); an
interceptor that acts around the call usually cares only about the response side. `rewrap`
builds the same kind of handler, with the same codecs, around `unary(behavior, streamed_request)`
for the unary-response kinds and `stream(behavior, streamed_request)` for the streamed ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

#: (the handler's behaviour, whether its request is a stream) -> the behaviour to serve instead.
Wrapper = Callable[[Any, bool], Any]


def rewrap(
    handler: Any, unary: Wrapper, stream: Wrapper, codec: tuple[Any, Any] | None = None
) -> grpc.RpcMethodHandler:
    """`codec`: (request deserializer, response serializer) to use instead of the handler's."""
    codec = codec or (handler.request_deserializer, handler.response_serializer)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary, False), *codec)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary, True), *codec)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(stream(handler.unary_stream, False), *codec)
    return grpc.stream_stream_rpc_method_handler(stream(handler.stream_stream, True), *codec)


class HandlerInterceptor(grpc.aio.ServerInterceptor):
    """Serves every method through `self.wrap(handler, full_method)`."""

    def wrap(self, handler: Any, full_method: str) -> grpc.RpcMethodHandler:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return self.wrap(handler, handler_call_details.method)  # type: ignore[attr-defined]
