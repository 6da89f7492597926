"""A small HTTP/1.1 client on an asyncio BufferedProtocol, for benchmarks: one keep-alive connection
per worker, few copies and little CPU per byte.

A `Connection` sends one request at a time (no pipelining) and reuses its socket until the server
says `Connection: close` or a request fails part-way; the next request then reconnects, as it does
when the server closed an idle connection. Request bodies go out as a sequence of buffers, never
joined (the signer uses UNSIGNED-PAYLOAD, so nothing hashes them). Responses are received straight
into one preallocated buffer per connection (`recv_into`, no intermediate bytes objects): a
StreamReader costs about three times as much CPU per byte here. A body with Content-Length or
chunked encoding is counted and dropped, kept, or MD5-hashed; large pieces are hashed in a worker
thread (hashlib releases the GIL) while the socket keeps filling the rest of the buffer.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any

Buffer = bytes | bytearray | memoryview

#: Receive buffer per connection; a response head must fit in it.
BUFFER_SIZE = 4 << 20
#: Pieces at least this large are hashed in a worker thread, smaller ones on the event loop.
THREAD_HASH_MIN = 256 << 10

_HASHERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="md5")


class Consume(Enum):
    """What to do with a response body."""

    DISCARD = "discard"  # count the bytes
    KEEP = "keep"  # return them
    MD5 = "md5"  # return their MD5 hex digest


class ProtocolError(Exception):
    """The server's response could not be parsed as HTTP/1.1."""


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    length: int  # body bytes received
    body: bytes = b""  # Consume.KEEP, and every error response
    md5: str | None = None  # Consume.MD5


class _Protocol(asyncio.BufferedProtocol):
    """Receives into buf[end:]; the reader consumes buf[start:end]. Reading pauses while the buffer
    is full, and both indexes go back to 0 whenever everything received has been consumed."""

    def __init__(self) -> None:
        self.buf = bytearray(BUFFER_SIZE)
        self.view = memoryview(self.buf)
        self.start = self.end = 0
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.error: BaseException | None = None
        self._paused = False
        self._arrived = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    # -- the transport's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            raise TypeError(f"a stream transport was expected, not {transport!r}")
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view[self.end :]  # never empty: reading is paused while end == len(buf)

    def buffer_updated(self, nbytes: int) -> None:
        self.end += nbytes
        self._arrived.set()
        if self.end == len(self.buf) and self.transport is not None:
            self.transport.pause_reading()
            self._paused = True

    def eof_received(self) -> bool:
        self.closed = True
        self._arrived.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._arrived.set()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- the reader's side

    async def write(self, pieces: Sequence[Buffer]) -> None:
        for piece in pieces:
            if self.closed or self.transport is None:
                raise ConnectionError("connection closed while sending the request")
            self.transport.write(piece)
            await self._writable.wait()

    def consume(self, n: int) -> None:
        self.start += n
        if self.start == self.end:
            self.start = self.end = 0
            self._resume()

    def _resume(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    async def more(self) -> None:
        """Wait until more bytes than buf[start:end] have arrived (moving those to the front first
        if the buffer is full)."""
        if self.end == len(self.buf):
            if self.start == 0:
                raise ProtocolError(f"a response line or head longer than {len(self.buf)} bytes")
            kept = self.end - self.start
            self.buf[:kept] = self.buf[self.start : self.end]
            self.start, self.end = 0, kept
            self._resume()
        if self.closed:
            raise ConnectionError("server closed the connection" + (f": {self.error}" if self.error else ""))
        self._arrived.clear()
        await self._arrived.wait()

    async def line(self, separator: bytes = b"\r\n") -> bytes:
        """Bytes up to and including `separator`, consumed."""
        while (at := self.buf.find(separator, self.start, self.end)) < 0:
            await self.more()
        stop = at + len(separator)
        text = bytes(self.view[self.start : stop])
        self.consume(stop - self.start)
        return text

    async def body(self, remaining: int, take: Callable[[memoryview], Awaitable[None] | None]) -> None:
        """Hand the next `remaining` bytes to `take` piece by piece; each piece is consumed once
        `take` returns (or its awaitable completes), so the buffer under it stays untouched."""
        while remaining:
            if self.start == self.end:
                await self.more()
            piece = self.view[self.start : min(self.end, self.start + remaining)]
            pending = take(piece)
            if pending is not None:
                await pending
            self.consume(len(piece))
            remaining -= len(piece)


class Connection:
    """One keep-alive HTTP/1.1 connection to `host:port` (TLS with `ssl_context`)."""

    def __init__(
        self, host: str, port: int, ssl_context: ssl.SSLContext | None = None, timeout: float = 120.0
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.timeout = timeout
        self._proto: _Protocol | None = None

    async def open(self) -> None:
        """Connect, unless connected; a connection the server has closed meanwhile (an idle keep-alive
        timeout) is replaced here, before a request is written to it."""
        proto = self._proto
        if proto is not None and not proto.closed and proto.transport and not proto.transport.is_closing():
            return
        await self.close()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout):
            transport, proto = await loop.create_connection(
                _Protocol, self.host, self.port, ssl=self.ssl_context
            )
        transport.set_write_buffer_limits(high=BUFFER_SIZE)
        self._proto = proto

    async def close(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()

    async def request(
        self,
        method: str,
        request_target: str,
        headers: Sequence[tuple[str, str]],
        body: Sequence[Buffer] = (),
        consume: Consume = Consume.DISCARD,
    ) -> Response:
        """Send one request and read its whole response within `timeout` seconds. Any failure closes
        the connection (the next request reconnects) and propagates (TimeoutError after `timeout`);
        an error status is a Response like any other."""
        await self.open()
        proto = self._proto
        if proto is None:
            raise ConnectionError("not connected")
        try:
            async with asyncio.timeout(self.timeout):
                response = await _exchange(proto, method, request_target, headers, body, consume)
        except BaseException:
            await self.close()
            raise
        if response.headers.get("connection", "").lower() == "close":
            await self.close()
        return response


async def _exchange(
    proto: _Protocol,
    method: str,
    request_target: str,
    headers: Sequence[tuple[str, str]],
    body: Sequence[Buffer],
    consume: Consume,
) -> Response:
    length = sum(len(b) for b in body)
    head = [f"{method} {request_target} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    if length or method in ("PUT", "POST"):
        head.append(f"content-length: {length}")
    await proto.write([("\r\n".join(head) + "\r\n\r\n").encode(), *body])
    status, response_headers = await _read_head(proto)
    if not 200 <= status < 300:
        consume = Consume.KEEP
    return await _read_body(proto, method, status, response_headers, consume)


async def _read_head(proto: _Protocol) -> tuple[int, dict[str, str]]:
    while True:
        lines = (await proto.line(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"bad status line {lines[0]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if parts[1] != "100":  # an interim 100 Continue is followed by the real response
            return int(parts[1]), headers


async def _read_body(
    proto: _Protocol, method: str, status: int, headers: dict[str, str], consume: Consume
) -> Response:
    response = Response(status, headers, 0)
    if method == "HEAD" or status in (204, 304):
        return response
    kept: list[bytes] = []
    md5: Any = hashlib.md5() if consume is Consume.MD5 else None
    loop = asyncio.get_running_loop()

    def take(piece: memoryview) -> Awaitable[None] | None:
        response.length += len(piece)
        if consume is Consume.KEEP:
            kept.append(bytes(piece))
        elif md5 is not None:
            if len(piece) >= THREAD_HASH_MIN:
                return loop.run_in_executor(_HASHERS, md5.update, piece)
            md5.update(piece)
        return None

    if headers.get("transfer-encoding", "").lower() == "chunked":
        while size := _chunk_size(await proto.line()):
            await proto.body(size, take)
            if await proto.line() != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")
        while await proto.line() != b"\r\n":  # trailers, then the blank line
            pass
    elif "content-length" in headers:
        await proto.body(int(headers["content-length"]), take)
    else:
        raise ProtocolError("response without Content-Length or chunked encoding")
    if consume is Consume.KEEP:
        response.body = b"".join(kept)
    if md5 is not None:
        response.md5 = md5.hexdigest()
    return response


def _chunk_size(line: bytes) -> int:
    try:
        return int(line.split(b";", 1)[0].strip(), 16)
    except ValueError as err:
        raise ProtocolError(f"bad chunk size line {line!r}") from err
