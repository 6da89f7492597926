"""Shared gRPC plumbing: channel and server options, deadlines, and the error edge.

The one RPC idiom of every service: a typed client (`client.py`) and a servicer
(`rpc_server.py`) subclassing the generated abstract servicer, so mypy checks both against the
contract. Only those two modules touch generated code; they convert messages to the domain's
dataclasses in one place per service. Domain code raises plain exception classes and never
imports grpc.

Errors cross service boundaries as a gRPC status code plus a machine-readable *reason* (the
domain error's class name, e.g. `NoSuchBucket` or `ShardCorrupt`) carried in the trailing
metadata key `cairn-reason`. Each service declares one `ErrorTable` (domain class -> status).
Servicer methods are wrapped with `edge(table)` / `edge_stream(table)`, which end a call that
raised a domain error with its status and reason, and any other exception with INTERNAL (logged).
Clients wrap calls in `with table.translated():`, which raises the same domain class again.
Nobody classifies an error by its message text.

Transport: with an identity (cairn.mtls: CAIRN_RPC_CA/CERT/KEY, or `set_identity`), every
channel is TLS with this process's client certificate and every server requires one from the
cluster CA and checks the caller's role per method (cairn.rpc_auth). Without one, channels and
servers are plaintext and accept any caller (unit tests and single-process tools); servers log
a warning saying so. Every service creates its channels with `channel` and binds with `bind`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import NoReturn, TypeVar

import grpc
import grpc.aio

from cairn.grpc_metrics import GrpcMetrics
from cairn.mtls import Identity, server_name
from cairn.rpc_auth import RoleInterceptor

log = logging.getLogger(__name__)

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


#: gRPC gives up on a connection attempt after `grpc.min_reconnect_backoff_ms` (100 ms above):
#: enough for a plaintext connect, not for a TLS handshake on a loaded machine, which then
#: fails calls as UNAVAILABLE. TLS channels allow this long unless `overrides` say otherwise.
TLS_CONNECT_TIMEOUT_MS = 3000

#: `server_role` of a channel to a replica of the caller's own service (Raft peers).
PEER = "peer"

_UNSET = object()
_identity: object = _UNSET


def set_identity(identity: Identity | None) -> None:
    """Use `identity` for this process's channels and servers from now on (None: plaintext)."""
    global _identity
    _identity = identity


def identity() -> Identity | None:
    """This process's identity: the one set with `set_identity`, else CAIRN_RPC_CA/CERT/KEY."""
    global _identity
    if _identity is _UNSET:
        _identity = Identity.from_env()
    return _identity if isinstance(_identity, Identity) else None


def channel(
    addr: str, overrides: Sequence[tuple[str, int]] = (), *, server_role: str | None = None
) -> grpc.aio.Channel:
    """An asyncio channel to `addr` ("host:port") with Cairn's standard options, any of which
    `overrides` replaces by name. With an identity it is mutual TLS, and `server_role` (a
    cairn.mtls role, or PEER for this process's own) is the role the server's certificate
    must name; without a role the certificate must name the host of `addr`."""
    options: dict[str, int | str] = dict(_OPTIONS)
    me = identity()
    if me is None:
        options.update(overrides)
        return grpc.aio.insecure_channel(addr, options=list(options.items()))
    options["grpc.min_reconnect_backoff_ms"] = TLS_CONNECT_TIMEOUT_MS
    options.update(overrides)
    role = me.role() if server_role == PEER else server_role
    if role:
        options["grpc.ssl_target_name_override"] = server_name(role)
    return grpc.aio.secure_channel(addr, me.channel_credentials(), options=list(options.items()))


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


def server(
    max_workers_hint: int | None = None, interceptors: Sequence[grpc.aio.ServerInterceptor] = ()
) -> grpc.aio.Server:
    """An asyncio gRPC server with Cairn's standard options and request metrics
    (`cairn.grpc_metrics.GrpcMetrics`); with an identity, every call is then checked by
    cairn.rpc_auth (the caller adds servicers, then a port with `bind`)."""
    del max_workers_hint
    me = identity()
    chain: list[grpc.aio.ServerInterceptor] = [GrpcMetrics(), *interceptors]
    if me is not None:
        chain.append(RoleInterceptor(me.role(), abort))
    return grpc.aio.server(options=list(_SERVER_OPTIONS), interceptors=chain)


def bind(server: grpc.aio.Server, addr: str) -> int:
    """Listen on `addr` ("host:port", port 0 picks one): mutual TLS with an identity, else
    plaintext (logged as a warning). Returns the bound port; OSError if it could not bind."""
    me = identity()
    if me is None:
        log.warning("serving %s without TLS: any caller is accepted (no CAIRN_RPC_CERT)", addr)
        port = server.add_insecure_port(addr)
    else:
        port = server.add_secure_port(addr, me.server_credentials())
    if port == 0:
        raise OSError(f"cannot bind {addr}")
    return port


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


#: Status codes that mean "the service could not answer" rather than "it refused".
TRANSPORT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


def _subclasses(cls: type[Exception]) -> Iterator[type[Exception]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _subclasses(sub)


def _plain_error(cls: type[Exception], message: str, trailers: Mapping[str, str]) -> Exception:
    del trailers
    return cls(message)


class ErrorTable:
    """One service's domain errors and their gRPC status codes, used only at its RPC edge.

    `codes` maps domain error classes to status codes; a subclass takes its nearest listed
    ancestor's code. The reason on the wire is the raised class's own name, so a client
    rebuilds exactly that class (any subclass of a listed class is known by name).
    `unavailable` builds the error for a call that got no reason and a transport status
    (the service could not be reached, timed out, or shed load); `internal` for anything else.
    `encode` adds extra trailing metadata for an error (e.g. a delete marker's version id);
    `decode` rebuilds an error from its class, message and those trailers.
    """

    def __init__(
        self,
        codes: Mapping[type[Exception], grpc.StatusCode],
        *,
        unavailable: Callable[[str], Exception],
        internal: Callable[[str], Exception],
        encode: Callable[[Exception], Sequence[tuple[str, str]]] = lambda exc: (),
        decode: Callable[[type[Exception], str, Mapping[str, str]], Exception] = _plain_error,
    ) -> None:
        self.codes = dict(codes)
        self.unavailable = unavailable
        self.internal = internal
        self.encode = encode
        self.decode = decode
        self.by_reason = {c.__name__: c for base in self.codes for c in _subclasses(base)}
        self.handled = tuple(self.codes)

    def code_of(self, exc: Exception) -> grpc.StatusCode:
        for cls in type(exc).__mro__:
            code = self.codes.get(cls)
            if code is not None:
                return code
        return grpc.StatusCode.INTERNAL

    async def abort(self, context: grpc.aio.ServicerContext, exc: Exception) -> NoReturn:
        """End the current call with `exc`'s status, its class name as reason, and its trailers."""
        trailing = ((REASON_KEY, type(exc).__name__), *self.encode(exc))
        context.set_trailing_metadata(trailing)
        await context.abort(self.code_of(exc), str(exc) or type(exc).__name__)
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover

    def reason_for(self, exc: Exception) -> str:
        """The reason a batched reply carries for one item's error: the class name of a domain
        error, "InternalError" for anything else (as the edge sends for a whole call)."""
        return type(exc).__name__ if isinstance(exc, self.handled) else "InternalError"

    def rebuild(self, reason: str, message: str) -> Exception:
        """The domain error one item of a batched reply stands for (its reason and message)."""
        cls = self.by_reason.get(reason)
        return self.decode(cls, message, {}) if cls is not None else self.internal(message)

    def error_of(self, error: grpc.RpcError) -> Exception:
        """The domain error a failed call stands for."""
        details = error.details() if hasattr(error, "details") else ""
        cls = self.by_reason.get(reason_of(error) or "")
        if cls is not None:
            trailers = {k: v if isinstance(v, str) else v.decode() for k, v in _trailing(error)}
            return self.decode(cls, details or "", trailers)
        status = status_of(error)
        text = f"{status.name if status else 'call failed'}: {details or ''}".strip()
        return self.unavailable(text) if status in TRANSPORT_CODES else self.internal(text)

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        """Client side: re-raise a failed call as its domain error (`with table.translated(): ...`)."""
        try:
            yield
        except grpc.RpcError as err:
            raise self.error_of(err) from None


def _trailing(error: grpc.RpcError) -> Sequence[tuple[str, str | bytes]]:
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    return tuple(trailing or ())


S = TypeVar("S")
Req = TypeVar("Req")
Resp = TypeVar("Resp")
UnaryMethod = Callable[[S, Req, grpc.aio.ServicerContext], Awaitable[Resp]]
StreamMethod = Callable[[S, Req, grpc.aio.ServicerContext], AsyncIterator[Resp]]


def edge(table: ErrorTable) -> Callable[[UnaryMethod[S, Req, Resp]], UnaryMethod[S, Req, Resp]]:
    """Wrap a unary-response servicer method: domain errors leave as their status and reason,
    anything else as INTERNAL `InternalError` with the traceback logged."""

    def wrap(method: UnaryMethod[S, Req, Resp]) -> UnaryMethod[S, Req, Resp]:
        @functools.wraps(method)
        async def handle(self: S, request: Req, context: grpc.aio.ServicerContext) -> Resp:
            try:
                return await method(self, request, context)
            except table.handled as exc:
                await table.abort(context, exc)
            except Exception as exc:
                await _internal(context, method.__name__, exc)

        return handle

    return wrap


def edge_stream(table: ErrorTable) -> Callable[[StreamMethod[S, Req, Resp]], StreamMethod[S, Req, Resp]]:
    """`edge` for a server-streaming method (an async generator)."""

    def wrap(method: StreamMethod[S, Req, Resp]) -> StreamMethod[S, Req, Resp]:
        @functools.wraps(method)
        async def handle(self: S, request: Req, context: grpc.aio.ServicerContext) -> AsyncIterator[Resp]:
            try:
                async for item in method(self, request, context):
                    yield item
            except table.handled as exc:
                await table.abort(context, exc)
            except Exception as exc:
                await _internal(context, method.__name__, exc)

        return handle

    return wrap


async def _internal(context: grpc.aio.ServicerContext, name: str, exc: Exception) -> NoReturn:
    if isinstance(exc, grpc.aio.AbortError | AssertionError):  # already ended by context.abort
        raise exc
    log.exception("%s failed", name)
    context.set_trailing_metadata(((REASON_KEY, "InternalError"),))
    await context.abort(grpc.StatusCode.INTERNAL, f"{name}: {type(exc).__name__}")
    raise AssertionError("unreachable: context.abort raises")  # pragma: no cover
