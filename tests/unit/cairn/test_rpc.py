"""Shared gRPC plumbing: a server never silently shares a port with another one."""

from __future__ import annotations

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
