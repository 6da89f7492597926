"""The operations HTTP endpoint of a gRPC service (placement, metadata, data node): metrics and health.

Off unless the service's `ops_port` is set (the Helm chart uses `cairn.ports.OPS`). It binds the
service's host and answers, one request per connection:

- `GET /metrics` (also `/cairn/metrics`): the process's metrics, Prometheus text format;
- `GET /cairn/health/live`: 200 while the process's event loop runs;
- `GET /cairn/health/ready`: 200 when the service's readiness check passes, else 503; the body is
  the check's JSON report (`{"status": "ok"|"unavailable", ...}`);
- any other path 404, any other method 405.

The S3 API serves the same paths on its S3 port (`api_service/observability.py`), where
`/cairn/health/cluster` is added.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn import metrics

log = logging.getLogger("cairn.ops_http")

METRICS_PATHS = ("/metrics", "/cairn/metrics")
LIVE_PATH = "/cairn/health/live"
READY_PATH = "/cairn/health/ready"
CLUSTER_PATH = "/cairn/health/cluster"

READ_TIMEOUT_S = 5.0
CHECK_TIMEOUT_S = 5.0
MAX_HEAD_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Health:
    """The outcome of a health check and what it looked at."""

    ok: bool
    detail: Mapping[str, Any] = field(default_factory=dict)

    def body(self) -> bytes:
        return json.dumps(
            {"status": "ok" if self.ok else "unavailable", **self.detail}, sort_keys=True
        ).encode()

    @property
    def status(self) -> int:
        return 200 if self.ok else 503


Check = Callable[[], Awaitable[Health]]
Refresh = Callable[[], Awaitable[None]]


async def run_check(check: Check, timeout_s: float = CHECK_TIMEOUT_S) -> Health:
    """`check()`, failed (not raised) when it raises or outlasts `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            return await check()
    except TimeoutError:
        return Health(False, {"error": f"the check took longer than {timeout_s:g}s"})
    except Exception as exc:  # noqa: BLE001 - a failing check is an unhealthy answer, not a crash
        return Health(False, {"error": f"{type(exc).__name__}: {exc}"})


async def live() -> Health:
    return Health(True)


class OpsServer:
    """The endpoint; `ready` is the service's readiness check, `refresh` updates its gauges
    before each scrape."""

    def __init__(self, ready: Check, refresh: Refresh | None = None) -> None:
        self._ready = ready
        self._refresh = refresh
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0: any free port); returns the bound port."""
        self._server = await asyncio.start_server(self._connection, host, port)
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("metrics and health on http://%s:%d", host, bound)
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(READ_TIMEOUT_S):
                    head = await reader.readuntil(b"\r\n\r\n")
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            if len(head) > MAX_HEAD_BYTES:
                return
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.partition(" ")[0].split("?", 1)[0]
            status, content_type, body = await self._answer(method, path)
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
            lines = [
                f"HTTP/1.1 {status} {reason.get(status, '')}",
                f"Content-Type: {content_type}",
                f"Content-Length: {len(body)}",
                "Cache-Control: no-store",
                "Connection: close",
            ]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"only GET and HEAD\n"
        if path in METRICS_PATHS:
            if self._refresh is not None:
                await self._refresh()
            body, content_type = metrics.exposition()
            return 200, content_type, body
        if path in (LIVE_PATH, READY_PATH):
            health = await run_check(live if path == LIVE_PATH else self._ready)
            return health.status, "application/json", health.body()
        return 404, "text/plain", b"not found\n"


async def start(host: str, port: int, ready: Check, refresh: Refresh | None = None) -> OpsServer | None:
    """An OpsServer on host:port, or None when `port` is 0 (off)."""
    if not port:
        return None
    server = OpsServer(ready, refresh)
    await server.start(host, port)
    return server
