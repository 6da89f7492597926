"""Shared gRPC plumbing: a server never silently shares a port with another one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest

from cairn import rpc


async def test_a_second_server_cannot_bind_a_taken_port() -> None:
    first = rpc.server()
    port = first.add_insecure_port("127.0.0.1:0")
    await first.start()
    try:
        second = rpc.server()
        with pytest.raises(RuntimeError):
            second.add_insecure_port(f"127.0.0.1:{port}")
    finally:
        await first.stop(None)


class _Missing(Exception):
    pass


class _GoneForGood(_Missing):
    pass


class _Down(Exception):
    pass


class _Broken(Exception):
    pass


TABLE = rpc.ErrorTable(
    {_Missing: grpc.StatusCode.NOT_FOUND},
    unavailable=_Down,
    internal=_Broken,
    encode=lambda exc: (("x-extra", "e"),),
)


class _Echo:
    """A servicer-shaped object: one unary and one server-streaming method behind the edge."""

    @rpc.edge(TABLE)
    async def Unary(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:  # noqa: N802
        if request == b"missing":
            raise _GoneForGood("it went")
        if request == b"bug":
            raise ValueError("oops")
        return request

    @rpc.edge_stream(TABLE)
    async def Stream(self, request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:  # noqa: N802
        yield b"first"
        raise _Missing(request.decode())


async def _serve() -> tuple[grpc.aio.Server, grpc.aio.Channel]:
    echo = _Echo()
    same = {"request_deserializer": bytes, "response_serializer": bytes}
    handler = grpc.method_handlers_generic_handler(
        "t.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(echo.Unary, **same),
            "Stream": grpc.unary_stream_rpc_method_handler(echo.Stream, **same),
        },
    )
    server = rpc.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, rpc.channel(f"127.0.0.1:{port}")


async def test_domain_errors_cross_the_edge_as_their_own_class() -> None:
    server, channel = await _serve()
    unary = channel.unary_unary("/t.Echo/Unary")
    stream = channel.unary_stream("/t.Echo/Stream")
    try:
        with TABLE.translated():
            assert await unary(b"hi", timeout=5) == b"hi"
        with pytest.raises(_GoneForGood, match="it went"), TABLE.translated():
            await unary(b"missing", timeout=5)
        with pytest.raises(_Broken, match="INTERNAL"), TABLE.translated():
            await unary(b"bug", timeout=5)
        got: list[bytes] = []
        with pytest.raises(_Missing, match="tail"), TABLE.translated():
            async for item in stream(b"tail", timeout=5):
                got.append(item)
        assert got == [b"first"]
    finally:
        await channel.close()
        await server.stop(None)
    dead = rpc.channel("127.0.0.1:1")
    try:
        with pytest.raises(_Down), TABLE.translated():
            await dead.unary_unary("/t.Echo/Unary")(b"x", timeout=1)
    finally:
        await dead.close()
