"""Shared gRPC plumbing: channel and server options, deadlines and typed error reasons.

Errors cross service boundaries as a gRPC status code plus a machine-readable *reason*
(for example `NoSuchBucket` or `ShardCorrupt`) carried in the trailing metadata key
`cairn-reason`. Servers raise with `abort()`; clients read it with `reason_of()`. Nobody
classifies an error by its message text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import grpc
import grpc.aio

REASON_KEY = "cairn-reason"

#: Largest single gRPC message either side accepts. Shard pieces are far smaller; this
#: leaves room for batched Raft entries and snapshot chunks.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

#: Deadline for unary calls that touch no bulk data.
DEFAULT_DEADLINE_S = 10.0

_OPTIONS: Sequence[tuple[str, int]] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    # A restarted peer must be reachable again within seconds, not after gRPC's default
    # 120 s maximum reconnect backoff; each channel keeps its own subchannels so one
    # channel's backoff toward a dead address does not hold back a fresh one.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.use_local_subchannel_pool", 1),
)


def channel(addr: str, overrides: Sequence[tuple[str, int]] = ()) -> grpc.aio.Channel:
    """An insecure asyncio channel to `addr` ("host:port") with Cairn's standard options,
    any of which `overrides` replaces by name."""
    options = dict(_OPTIONS)
    options.update(overrides)
    return grpc.aio.insecure_channel(addr, options=list(options.items()))


#: Clients ping idle connections every 20 s (keepalive above); a server must accept pings
#: that often, or it answers "too_many_pings" and drops the connection under in-flight calls.
#: No SO_REUSEPORT (gRPC's default is on): a second server on a taken port must fail to
#: start, not silently share the port and half the traffic with the first.
_SERVER_OPTIONS: Sequence[tuple[str, int]] = (
    *_OPTIONS,
    ("grpc.so_reuseport", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.min_time_between_pings_ms", 10_000),
)


def server(max_workers_hint: int | None = None) -> grpc.aio.Server:
    """An asyncio gRPC server with Cairn's standard options (the caller adds ports)."""
    del max_workers_hint
    return grpc.aio.server(options=list(_SERVER_OPTIONS))


class RpcAbort(Exception):
    """Raised by domain-facing servicer code to end an RPC with a status and reason."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.code = code
        self.reason = reason
        self.message = message or reason


async def abort(
    context: grpc.aio.ServicerContext, code: grpc.StatusCode, reason: str, message: str = ""
) -> NoReturn:
    """End the current RPC with `code`, carrying `reason` in the trailing metadata."""
    context.set_trailing_metadata(((REASON_KEY, reason),))
    await context.abort(code, message or reason)
    raise AssertionError("unreachable: context.abort raises")  # pragma: no cover


def reason_of(error: grpc.RpcError) -> str | None:
    """The machine-readable reason of a failed call, or None if the server sent none."""
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == REASON_KEY:
            return value if isinstance(value, str) else value.decode()
    return None


def status_of(error: grpc.RpcError) -> grpc.StatusCode | None:
    """The status code of a failed call (None if the error carries none)."""
    code = error.code() if hasattr(error, "code") else None
    return code if isinstance(code, grpc.StatusCode) else None
