"""A scripted local HTTP/1.1 server for the benchmark client's tests: it records every request and
answers each with what its `reply` function returns (raw bytes, so tests can send anything)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from http11 import Connection

Reply = Callable[[bytes, bytes], bytes]  # (request head, request body) -> raw response


class Server:
    """Answers each request on 127.0.0.1 with `reply`; counts connections and requests."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.close_after_reply = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                writer.write(self.reply(head, body))
                await writer.drain()
                if self.close_after_reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


Serve = Callable[[Reply], Awaitable[tuple[Server, Connection]]]


def fixed(status: int, body: bytes, extra: str = "") -> Reply:
    return lambda head, _: (
        f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode() + body
    )
