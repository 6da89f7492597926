"""The benchmark scripts import each other as top-level modules (they run as `python benchmarks/x.py`),
so their folder goes on sys.path for these tests; `serve` starts scripted servers for their clients."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from http11 import Connection  # noqa: E402  (found through the path set above)

from tests.unit.benchmarks.scripted_server import Reply, Serve, Server  # noqa: E402


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []
    connections: list[Connection] = []

    async def start(reply: Reply) -> tuple[Server, Connection]:
        state = Server(reply)
        server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        servers.append(server)
        conn = Connection("127.0.0.1", server.sockets[0].getsockname()[1])
        connections.append(conn)
        return state, conn

    yield start  # a started server and a client Connection to it
    for conn in connections:
        await conn.close()
    for server in servers:
        server.close()
        await server.wait_closed()
