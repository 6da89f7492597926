"""The S3 ASGI application: request id, authentication, routing, dispatch and error rendering.

Pure ASGI (no framework middleware): for every HTTP request it assigns a request id, refuses a
header section over `max_header_bytes`, routes to one S3 operation, verifies the SigV4 signature
(every path, whichever way credentials arrive; a request with none is anonymous, and may do only
what a bucket policy allows it: access.py), and runs that operation's handler with an
`S3Request`. The exceptions: a browser form upload (POST Object), whose credentials are in its
body, goes to `form_upload` before header authentication, and a CORS preflight (OPTIONS) is
answered without authentication (handlers_bucket_config.py). A request carrying `Origin` gets
its bucket's CORS headers on whatever it is answered, errors included. Any `S3Error` (or an
internal error mapped by error_mapping) becomes the S3 XML error body with `x-amz-request-id`;
an unmapped exception is a logged 500 InternalError. An error after the response started (a read
that loses its quorum mid-stream) can only abort the connection: never send wrong bytes. A
request body that stalls for `body_timeout_s` is 400 RequestTimeout.

At lifespan startup the app publishes its `ApiConfig` in the lifespan state (`CONFIG_STATE_KEY`),
where the HTTP protocol (http_protocol.py) reads its connection limits.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from starlette.responses import Response

from . import access, errors
from .context import S3Request, Services
from .error_mapping import to_s3_error
from .errors import (
    IncompleteBody,
    RequestHeaderSectionTooLarge,
    RequestTimeout,
    S3Error,
    has_body,
    render_error,
)
from .form_upload import FormRequest, post_object
from .handlers_acl import ACL_HANDLERS
from .handlers_attributes import ATTRIBUTES_HANDLERS
from .handlers_bucket import BUCKET_HANDLERS
from .handlers_bucket_config import BUCKET_CONFIG_HANDLERS, actual_request_headers, preflight
from .handlers_disabled import DISABLED_FEATURE_HANDLERS
from .handlers_encryption import ENCRYPTION_HANDLERS
from .handlers_listing import LISTING_HANDLERS
from .handlers_multipart import MULTIPART_HANDLERS
from .handlers_object import OBJECT_HANDLERS
from .handlers_policy import POLICY_HANDLERS
from .handlers_tagging import TAGGING_HANDLERS
from .observability import note
from .router import Op, route, split_host
from .sigv4 import RawRequest, SecretLookup, verify

log = logging.getLogger("cairn.api_service")

Handler = Callable[[S3Request], Awaitable[Response]]
HANDLERS: dict[Op, Handler] = {
    **BUCKET_HANDLERS,
    **LISTING_HANDLERS,
    **OBJECT_HANDLERS,
    **MULTIPART_HANDLERS,
    **DISABLED_FEATURE_HANDLERS,
    **ACL_HANDLERS,
    **TAGGING_HANDLERS,
    **POLICY_HANDLERS,
    **BUCKET_CONFIG_HANDLERS,
    **ENCRYPTION_HANDLERS,
    **ATTRIBUTES_HANDLERS,
}
ACCOUNT_OPS = frozenset({Op.LIST_BUCKETS, Op.CREATE_BUCKET})
"""Operations on no existing bucket, authorized by access.authorize_account (the rest by
S3Request.bucket())."""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONFIG_STATE_KEY = "cairn.api_config"
"""Where the app's ApiConfig sits in the ASGI lifespan state (read by http_protocol)."""


def new_request_id() -> str:
    return secrets.token_hex(8).upper()


def common_headers(request_id: str) -> list[tuple[bytes, bytes]]:
    """Headers on every response."""
    return [
        (b"x-amz-request-id", request_id.encode()),
        (b"x-amz-id-2", request_id.encode()),
        (b"server", b"Cairn"),
    ]


def _raw_path(scope: Scope) -> str:
    return str(scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?", 1)[0])


def _header_section_size(scope: Scope) -> int:
    """Bytes of the header lines (`name: value` CRLF) plus the query string: what S3's
    RequestHeaderSectionTooLarge limit counts."""
    return len(scope.get("query_string", b"")) + sum(len(n) + len(v) + 4 for n, v in scope["headers"])


def _headers(scope: Scope) -> dict[str, str]:
    """Header values as UTF-8 text; bytes that are not UTF-8 survive as surrogate escapes, so the
    SigV4 canonical request (encoded with surrogateescape) sees exactly the bytes on the wire."""
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        text = value.decode("utf-8", "surrogateescape")
        out[key] = f"{out[key]},{text}" if key in out else text
    return out


class _Wire:
    """The request body as ASGI delivers it; `done` once the last piece arrived. Waiting longer
    than `timeout_s` for the next piece is RequestTimeout (a client stalling mid-body)."""

    def __init__(self, receive: Receive, expected: bool, timeout_s: float) -> None:
        self._receive = receive
        self._timeout_s = timeout_s
        self.done = not expected

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while not self.done:
            try:
                async with asyncio.timeout(self._timeout_s):
                    message = await self._receive()
            except TimeoutError:
                raise RequestTimeout() from None
            if message["type"] == "http.disconnect":
                raise IncompleteBody("The client disconnected before the body ended.")
            body = message.get("body", b"")
            if not message.get("more_body", False):
                self.done = True
            if body:
                yield body


class _Send:
    """The ASGI `send` with the common headers (and `extra`, the request's CORS headers) added to
    the response start; `started` once sent."""

    def __init__(self, send: Send, request_id: str) -> None:
        self._send = send
        self.request_id = request_id
        self.started = False
        self.extra: dict[str, str] = {}

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            extra = [(k.encode(), v.encode()) for k, v in self.extra.items()]
            message["headers"] = [*message.get("headers", []), *extra, *common_headers(self.request_id)]
        await self._send(message)


class S3App:
    """The ASGI callable. `startup`/`shutdown` run on the ASGI lifespan events."""

    def __init__(
        self,
        services: Services,
        lookup: SecretLookup,
        startup: Callable[[], Awaitable[None]] | None = None,
        shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.services = services
        self.lookup = lookup
        self._startup = startup
        self._shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = new_request_id()
        tracked_send = _Send(send, request_id)
        method = scope["method"]
        raw_path = _raw_path(scope)
        headers = _headers(scope)
        config = self.services.config
        expected = "content-length" in headers or "transfer-encoding" in headers
        wire = _Wire(receive, expected, config.body_timeout_s)
        try:
            if _header_section_size(scope) > config.max_header_bytes:
                raise RequestHeaderSectionTooLarge(MaxSizeAllowed=config.max_header_bytes)
            response = await self._handle(scope, headers, wire, tracked_send, method, raw_path)
            await response(scope, receive, tracked_send)
        except Exception as exc:  # noqa: BLE001 - the edge: every failure becomes an S3 answer
            error = to_s3_error(exc)
            if error is None:
                log.exception("internal error on %s %s (request %s)", method, raw_path, request_id)
                error = errors.InternalError()
            elif error.status >= 500 and error.status != 501:
                log.warning("%s on %s %s (request %s): %r", error.code, method, raw_path, request_id, exc)
            if tracked_send.started:
                raise  # the status line is gone: abort the connection rather than send wrong bytes
            response = _error_response(error, method, raw_path, request_id)
            if not wire.done:
                # The body was not read (and with Expect: 100-continue may never be sent): the
                # connection cannot carry another request.
                response.headers["connection"] = "close"
            await response(scope, receive, tracked_send)

    async def _handle(
        self, scope: Scope, headers: dict[str, str], wire: _Wire, send: _Send, method: str, raw_path: str
    ) -> Response:
        query_string = scope.get("query_string", b"").decode("latin-1")
        config = self.services.config
        try:
            endpoint = route(
                method, headers.get("host", ""), raw_path, query_string, headers, config.base_domains
            )
        except S3Error as error:
            routing_error: S3Error | None = error  # answered after authentication, as S3 does
        else:
            routing_error = None
            note(scope, operation=endpoint.op.value, bucket=endpoint.bucket, key=endpoint.key)
            if endpoint.op is Op.CORS_PREFLIGHT:  # unauthenticated, as S3 answers it
                return await preflight(self.services, endpoint, headers)
            send.extra = await actual_request_headers(self.services, endpoint, method, headers)
            if endpoint.op is Op.POST_OBJECT:  # a form upload: its credentials are in the body
                client = scope.get("client")
                form = FormRequest(
                    endpoint,
                    raw_path,
                    headers,
                    send.request_id,
                    client_ip=client[0] if client else "",
                    secure=scope.get("scheme") == "https",
                )
                return await post_object(form, wire, self.lookup, self.services)
        auth = await verify(
            RawRequest(method, raw_path, query_string, headers),
            self.lookup,
            now=self.services.clock(),
            region=config.region if config.enforce_region else None,
            vhost_bucket=split_host(headers.get("host", ""), config.base_domains),
        )
        note(scope, principal=auth.access_key_id)
        if routing_error is not None:
            raise errors.AccessDenied() if auth.anonymous else routing_error
        handler = HANDLERS.get(endpoint.op)
        if handler is None:
            raise errors.NotImplemented(f"{endpoint.op.value} is not implemented.")
        client = scope.get("client")
        request = S3Request(
            endpoint,
            auth,
            method,
            raw_path,
            headers,
            wire,
            self.services,
            send.request_id,
            client_ip=client[0] if client else "",
            secure=scope.get("scheme") == "https",
        )
        if endpoint.op in ACCOUNT_OPS:
            await access.authorize_account(request)
        if endpoint.key or method in ("GET", "HEAD") or self.services.bucket_contexts is None:
            return await handler(request)
        try:  # a bucket-level write: the next request of this process reads the bucket afresh
            return await handler(request)
        finally:
            self.services.bucket_contexts.invalidate(endpoint.bucket)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._startup is not None:
                        await self._startup()
                except Exception as exc:  # noqa: BLE001 - reported to the server, which exits
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                if "state" in scope:
                    scope["state"][CONFIG_STATE_KEY] = self.services.config
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._shutdown is not None:
                    await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def refusal(error: S3Error) -> ASGIApp:
    """An ASGI app answering every request with `error` and closing the connection, without reading
    the body (the HTTP protocol serves it on connections past `max_connections`)."""

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        response = _error_response(error, scope["method"], _raw_path(scope), request_id)
        response.headers["connection"] = "close"
        await response(scope, receive, _Send(send, request_id))

    return refuse


def _error_response(error: S3Error, method: str, resource: str, request_id: str) -> Response:
    headers: Mapping[str, str] = dict(error.headers)
    if not has_body(error, method):
        return Response(status_code=error.status, headers={**headers, "content-length": "0"})
    body = render_error(error, resource, request_id)
    return Response(body, status_code=error.status, headers=dict(headers), media_type="application/xml")
