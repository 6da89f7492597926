"""Wrapping a gRPC server method handler's behaviour, whatever its kind (for interceptors).

`HandlerInterceptor` is a server interceptor that replaces every method's handler with what its
`wrap(handler, full_method)` returns. The wrapped handler is built once per method and reused for
every later call (building one costs several closures and a grpc handler object per call);
whatever `wrap`'s behaviours do (a role check, metrics) still runs on every call. The cache
is keyed by the method and checked against the identity of the handler the rest of the chain
returned, so a different handler for the same method is wrapped anew.

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
    """Serves every method through `self.wrap(handler, full_method)`, built once per method."""

    #: full method -> (the handler the chain returned, its wrapped handler). Filled lazily;
    #: the set of methods is the server's, so it stays small.
    _wrapped: dict[str, tuple[Any, grpc.RpcMethodHandler]]

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
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        try:
            cache = self._wrapped
        except AttributeError:  # subclasses need not call a base __init__
            cache = self._wrapped = {}
        known = cache.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self.wrap(handler, method)
        cache[method] = (handler, wrapped)
        return wrapped
