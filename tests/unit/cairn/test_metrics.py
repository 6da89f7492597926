"""Request metrics of every gRPC server (cairn.grpc_metrics.GrpcMetrics on rpc.server()) and the ops HTTP
endpoint of the gRPC services (cairn.ops_http), over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf.wrappers_pb2 import BytesValue
from prometheus_client import REGISTRY

from cairn import ops_http, rpc


class _Missing(Exception):
    pass


class _Down(Exception):
    pass


TABLE = rpc.ErrorTable({_Missing: grpc.StatusCode.NOT_FOUND}, unavailable=_Down, internal=_Down)
SERVICE = "t.Metered"


class _Metered:
    @rpc.edge(TABLE)
    async def Unary(self, request: BytesValue, context: grpc.aio.ServicerContext) -> BytesValue:  # noqa: N802
        if request.value == b"missing":
            raise _Missing("no such thing")
        if request.value == b"bug":
            raise ValueError("oops")
        return BytesValue(value=request.value * 2)

    async def Raw(self, request: BytesValue, context: grpc.aio.ServicerContext) -> BytesValue:  # noqa: N802
        raise RuntimeError("no edge around this one")

    @rpc.edge_stream(TABLE)
    async def Down(self, request: BytesValue, context: grpc.aio.ServicerContext) -> AsyncIterator[BytesValue]:  # noqa: N802
        for _ in range(3):
            yield BytesValue(value=request.value)

    async def Up(self, requests: AsyncIterator[BytesValue], context: grpc.aio.ServicerContext) -> BytesValue:  # noqa: N802
        total = 0
        async for message in requests:
            total += len(message.value)
        return BytesValue(value=str(total).encode())


def _count(method: str, code: str) -> float:
    labels = {"service": SERVICE, "method": method, "code": code}
    return REGISTRY.get_sample_value("cairn_grpc_requests_total", labels) or 0.0


def _bytes(name: str, method: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": SERVICE, "method": method}) or 0.0


async def _serve() -> tuple[grpc.aio.Server, grpc.aio.Channel]:
    servicer = _Metered()
    codec = {
        "request_deserializer": BytesValue.FromString,
        "response_serializer": BytesValue.SerializeToString,
    }
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(servicer.Unary, **codec),
            "Raw": grpc.unary_unary_rpc_method_handler(servicer.Raw, **codec),
            "Down": grpc.unary_stream_rpc_method_handler(servicer.Down, **codec),
            "Up": grpc.stream_unary_rpc_method_handler(servicer.Up, **codec),
        },
    )
    server = rpc.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, rpc.channel(f"127.0.0.1:{port}")


def _call(channel: grpc.aio.Channel, kind: str, method: str) -> Any:
    make = getattr(channel, kind)
    return make(
        f"/{SERVICE}/{method}",
        request_serializer=BytesValue.SerializeToString,
        response_deserializer=BytesValue.FromString,
    )


async def test_grpc_requests_are_counted_by_method_and_status_code() -> None:
    server, channel = await _serve()
    before = {
        "ok": _count("Unary", "OK"),
        "missing": _count("Unary", "NOT_FOUND"),
        "bug": _count("Unary", "INTERNAL"),
        "raw": _count("Raw", "UNKNOWN"),
        "received": _bytes("cairn_grpc_received_bytes_total", "Unary"),
        "sent": _bytes("cairn_grpc_sent_bytes_total", "Unary"),
        "duration": REGISTRY.get_sample_value(
            "cairn_grpc_request_duration_seconds_count", {"service": SERVICE, "method": "Unary"}
        )
        or 0.0,
    }
    try:
        unary = _call(channel, "unary_unary", "Unary")
        request = BytesValue(value=b"x" * 100)
        reply = await unary(request)
        assert reply.value == b"x" * 200
        for value, code in ((b"missing", grpc.StatusCode.NOT_FOUND), (b"bug", grpc.StatusCode.INTERNAL)):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await unary(BytesValue(value=value))
            assert failed.value.code() == code
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await _call(channel, "unary_unary", "Raw")(BytesValue(value=b"r"))
        assert failed.value.code() == grpc.StatusCode.UNKNOWN
    finally:
        await channel.close()
        await server.stop(None)
    assert _count("Unary", "OK") - before["ok"] == 1
    assert _count("Unary", "NOT_FOUND") - before["missing"] == 1
    assert _count("Unary", "INTERNAL") - before["bug"] == 1
    assert _count("Raw", "UNKNOWN") - before["raw"] == 1
    sizes = request.ByteSize() + BytesValue(value=b"missing").ByteSize() + BytesValue(value=b"bug").ByteSize()
    assert _bytes("cairn_grpc_received_bytes_total", "Unary") - before["received"] == sizes
    assert _bytes("cairn_grpc_sent_bytes_total", "Unary") - before["sent"] == reply.ByteSize()
    duration = REGISTRY.get_sample_value(
        "cairn_grpc_request_duration_seconds_count", {"service": SERVICE, "method": "Unary"}
    )
    assert duration == before["duration"] + 3


async def test_a_method_handler_is_wrapped_once_and_every_call_is_still_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cairn.grpc_metrics import GrpcMetrics

    wrapped: list[str] = []
    real = GrpcMetrics.wrap

    def spy(self: GrpcMetrics, handler: Any, full_method: str) -> Any:
        wrapped.append(full_method)
        return real(self, handler, full_method)

    monkeypatch.setattr(GrpcMetrics, "wrap", spy)
    server, channel = await _serve()
    before_ok, before_missing = _count("Unary", "OK"), _count("Unary", "NOT_FOUND")
    try:
        unary = _call(channel, "unary_unary", "Unary")
        for _ in range(5):
            assert (await unary(BytesValue(value=b"ab"))).value == b"abab"
        with pytest.raises(grpc.aio.AioRpcError):
            await unary(BytesValue(value=b"missing"))
        assert wrapped == [f"/{SERVICE}/Unary"]
        assert _count("Unary", "OK") - before_ok == 5
        assert _count("Unary", "NOT_FOUND") - before_missing == 1
    finally:
        await channel.close()
        await server.stop(None)


async def test_streamed_messages_are_counted() -> None:
    server, channel = await _serve()
    sent_before = _bytes("cairn_grpc_sent_bytes_total", "Down")
    received_before = _bytes("cairn_grpc_received_bytes_total", "Up")
    ok_before = _count("Down", "OK"), _count("Up", "OK")
    try:
        replies = [r async for r in _call(channel, "unary_stream", "Down")(BytesValue(value=b"abc"))]
        assert len(replies) == 3

        async def pieces() -> AsyncIterator[BytesValue]:
            for _ in range(4):
                yield BytesValue(value=b"y" * 1000)

        total = await _call(channel, "stream_unary", "Up")(pieces())
        assert total.value == b"4000"
    finally:
        await channel.close()
        await server.stop(None)
    assert (
        _bytes("cairn_grpc_sent_bytes_total", "Down") - sent_before == 3 * BytesValue(value=b"abc").ByteSize()
    )
    assert (
        _bytes("cairn_grpc_received_bytes_total", "Up") - received_before
        == 4 * BytesValue(value=b"y" * 1000).ByteSize()
    )
    assert (_count("Down", "OK"), _count("Up", "OK")) == (ok_before[0] + 1, ok_before[1] + 1)


async def _get(port: int, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers["Content-Length"]) == len(body) or method == "HEAD"
    return int(lines[0].split()[1]), headers["Content-Type"], body


async def test_ops_endpoint_serves_metrics_and_health() -> None:
    state = {"ready": True, "refreshed": 0}

    async def ready() -> ops_http.Health:
        return ops_http.Health(bool(state["ready"]), {"why": "test"})

    async def refresh() -> None:
        state["refreshed"] += 1

    server = ops_http.OpsServer(ready, refresh)
    port = await server.start("127.0.0.1", 0)
    try:
        for path in ("/metrics", "/cairn/metrics"):
            status, content_type, body = await _get(port, path)
            assert status == 200 and content_type.startswith("text/plain")
            assert b"# TYPE cairn_grpc_requests_total counter" in body
        assert state["refreshed"] == 2
        status, _, body = await _get(port, "/cairn/health/live")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, _, body = await _get(port, "/cairn/health/ready")
        assert (status, json.loads(body)) == (200, {"status": "ok", "why": "test"})
        state["ready"] = False
        status, _, body = await _get(port, "/cairn/health/ready")
        assert (status, json.loads(body)["status"]) == (503, "unavailable")
        status, _, body = await _get(port, "/cairn/health/ready", method="HEAD")
        assert (status, body) == (503, b"")
        assert (await _get(port, "/nothing"))[0] == 404
        assert (await _get(port, "/metrics", method="POST"))[0] == 405
    finally:
        await server.stop()


async def test_a_failing_or_hanging_check_is_unavailable_not_a_crash() -> None:
    async def broken() -> ops_http.Health:
        raise ConnectionError("metadata down")

    async def hanging() -> ops_http.Health:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    failed = await ops_http.run_check(broken)
    assert not failed.ok and failed.detail["error"] == "ConnectionError: metadata down"
    slow = await ops_http.run_check(hanging, timeout_s=0.05)
    assert not slow.ok and "longer than 0.05s" in slow.detail["error"]
    assert await ops_http.start("127.0.0.1", 0, broken) is None  # port 0: off
