"""The benchmark's HTTP/1.1 client against a scripted local server: bodies, MD5, chunked encoding,
interim responses, keep-alive reuse and reconnects."""

from __future__ import annotations

import asyncio
import hashlib

import http11
import pytest
from http11 import Connection, Consume, ProtocolError

from tests.unit.benchmarks.scripted_server import Reply, Serve, fixed


def chunked(pieces: list[bytes], trailer: str = "") -> Reply:
    def reply(head: bytes, _: bytes) -> bytes:
        out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        for piece in pieces:
            out += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
        return out + b"0\r\n" + trailer.encode() + b"\r\n"

    return reply


async def test_a_large_body_is_counted_kept_or_hashed(serve: Serve) -> None:
    body = bytes(range(256)) * (3 * http11.BUFFER_SIZE // 256 + 7)  # several buffers' worth, odd end
    _, conn = await serve(fixed(200, body))
    counted = await conn.request("GET", "/b/k", [("host", "x")], consume=Consume.DISCARD)
    assert (counted.status, counted.length, counted.body) == (200, len(body), b"")
    kept = await conn.request("GET", "/b/k", [("host", "x")], consume=Consume.KEEP)
    assert kept.body == body
    hashed = await conn.request("GET", "/b/k", [("host", "x")], consume=Consume.MD5)
    assert (hashed.md5, hashed.length) == (hashlib.md5(body).hexdigest(), len(body))


async def test_requests_reuse_one_connection_and_send_the_body_pieces_in_order(serve: Serve) -> None:
    server, conn = await serve(fixed(200, b"ok"))
    pieces = [b"abc", memoryview(b"0123456789")[2:6], bytearray(b"xyz")]
    for _ in range(3):
        response = await conn.request("PUT", "/b/k", [("host", "x")], pieces, Consume.KEEP)
        assert response.body == b"ok"
    assert server.connections == 1
    assert [body for _, body in server.requests] == [b"abc2345xyz"] * 3
    assert b"content-length: 10\r\n" in server.requests[0][0]


async def test_a_chunked_body_with_extensions_and_trailers(serve: Serve) -> None:
    pieces = [b"first", b"x" * 100_000, b"last"]
    _, conn = await serve(chunked(pieces, trailer="x-checksum: 1\r\n"))
    for _ in range(2):  # the connection stays usable after the trailers
        response = await conn.request("GET", "/", [("host", "x")], consume=Consume.MD5)
        assert response.md5 == hashlib.md5(b"".join(pieces)).hexdigest()


async def test_an_interim_100_continue_is_skipped(serve: Serve) -> None:
    final = fixed(200, b"done")
    _, conn = await serve(lambda head, body: b"HTTP/1.1 100 Continue\r\n\r\n" + final(head, body))
    response = await conn.request("PUT", "/b/k", [("host", "x")], [b"data"], Consume.KEEP)
    assert (response.status, response.body) == (200, b"done")


async def test_an_error_status_keeps_its_body(serve: Serve) -> None:
    _, conn = await serve(fixed(403, b"<Error><Code>AccessDenied</Code></Error>"))
    response = await conn.request("GET", "/b/k", [("host", "x")], consume=Consume.MD5)
    assert (response.status, response.body) == (403, b"<Error><Code>AccessDenied</Code></Error>")


async def test_connection_close_and_a_server_side_close_reconnect(serve: Serve) -> None:
    server, conn = await serve(fixed(200, b"ok", extra="connection: close\r\n"))
    server.close_after_reply = True
    for _ in range(3):
        assert (await conn.request("GET", "/", [("host", "x")], consume=Consume.KEEP)).body == b"ok"
    assert server.connections == 3


async def test_a_cut_short_body_fails_and_the_next_request_reconnects(serve: Serve) -> None:
    server, conn = await serve(lambda head, _: b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort")
    server.close_after_reply = True
    with pytest.raises(ConnectionError):
        await conn.request("GET", "/", [("host", "x")])
    server.reply = fixed(200, b"fine")
    assert (await conn.request("GET", "/", [("host", "x")], consume=Consume.KEEP)).body == b"fine"
    assert server.connections == 2


async def test_garbage_is_a_protocol_error(serve: Serve) -> None:
    _, conn = await serve(lambda head, _: b"SMTP ready\r\n\r\n")
    with pytest.raises(ProtocolError):
        await conn.request("GET", "/", [("host", "x")])


async def test_a_server_that_never_answers_times_out() -> None:
    never = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await never.wait()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    conn = Connection("127.0.0.1", server.sockets[0].getsockname()[1], timeout=0.2)
    try:
        with pytest.raises(TimeoutError):
            await conn.request("GET", "/", [("host", "x")])
    finally:
        await conn.close()
        never.set()
        server.close()
        await server.wait_closed()
