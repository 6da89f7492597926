"""The HTTP/1.1 connection layer of the S3 endpoint: uvicorn's httptools and h11 protocols with the
limits a public endpoint needs, enforced before the ASGI app sees a request.

- Header section: a request whose head is still incomplete after `max_header_bytes` plus
  `REQUEST_LINE_ALLOWANCE` bytes is refused with 400 RequestHeaderSectionTooLarge as the read that
  crosses the bound arrives, and nothing more of it is buffered (h11's `max_incomplete_event_size`
  is set to the bound; httptools has no limit of its own, so S3HttpToolsProtocol counts, with one
  exception it documents). A complete head is measured exactly by `S3App`, which refuses it the
  same way.
- Header timeout: from connecting, or from the first byte of a request (of one pipelined behind
  another: from that one's answer), a client has `header_timeout_s` to complete the header
  section; bytes trickling in do not extend it (slowloris). Then the connection is closed, after a
  400 RequestTimeout if part of a request came.
- Idle keep-alive: uvicorn's keep-alive timer, set to `idle_timeout_s` (server.uvicorn_options).
- Connection cap: a connection opened while `max_connections` are already open answers its
  request with 503 SlowDown and closes.
- A refusal made here writes the S3 XML error itself, then lingers: it reads and drops what the
  client still sends, for up to `LINGER_S`, so a client that writes its whole request before
  reading sees the answer rather than a connection reset.

The limits are the `ApiConfig` that `S3App` publishes in the ASGI lifespan state, so each worker
process enforces its own app's configuration. These classes use uvicorn's protocol internals
(`cycle`, `app`, the parser callbacks); tests/unit/api_service/test_http_edge.py drives both over
real sockets.
"""

from __future__ import annotations

import asyncio
import http
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from . import errors
from .app import CONFIG_STATE_KEY, common_headers, new_request_id, refusal
from .config import ApiConfig
from .errors import S3Error, render_error

REQUEST_LINE_ALLOWANCE = 4096
"""Bytes an incomplete head may hold beyond max_header_bytes: the request line's method, version and
path (a 1024-byte key is at most 3 KiB percent-encoded); the query string counts in the limit."""
LINGER_S = 2.0
"""How long a connection refused here keeps reading (and dropping) the client's bytes before closing."""


class _Guarded(asyncio.Protocol):
    """The limits, mixed in front of a uvicorn HTTP protocol class."""

    # Provided by the uvicorn protocol class this is mixed into.
    transport: asyncio.Transport
    cycle: Any
    app: Any
    connections: set[Any]
    server_state: ServerState
    loop: asyncio.AbstractEventLoop

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)  # type: ignore[call-arg]  # the uvicorn protocol
        self._guard(app_state)

    def _guard(self, app_state: dict[str, Any]) -> None:
        api = app_state.get(CONFIG_STATE_KEY)
        if not isinstance(api, ApiConfig):
            raise RuntimeError("Cairn's HTTP protocol serves only an S3App run with lifespan='on'")
        self.api = api
        self.head_limit = api.max_header_bytes + REQUEST_LINE_ALLOWANCE
        self._header_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._discarding = False
        self._refusal_pending = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.api.max_connections:
            self.app = refusal(
                errors.SlowDown(f"This endpoint serves at most {self.api.max_connections} connections.")
            )
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if self._awaiting_request() and self._header_timer is None:
            self._arm_header_timer()
        super().data_received(data)
        if not self._awaiting_request():  # the head is complete: the request belongs to the app
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)

    def _awaiting_request(self) -> bool:
        return self.cycle is None or bool(self.cycle.response_complete)

    def _reading_head(self) -> bool:
        """Whether part of a request head has arrived (not a body the app left unread)."""
        raise NotImplementedError

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.api.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._awaiting_request():
            return
        if self._reading_head():
            self.transport.write(self._error_bytes(errors.RequestTimeout()))
        self.transport.close()

    def _refuse_head(self) -> None:
        """Answer 400 RequestHeaderSectionTooLarge for a head still arriving, then linger. Behind a
        pipelined request still being answered, the refusal waits for that answer (HTTP/1.1 answers
        in request order); nothing more is read meanwhile."""
        self._cancel_header_timer()
        self._discarding = True
        self._refusal_pending = True
        if self._awaiting_request():
            self._send_head_refusal()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]  # the uvicorn protocol's
        if not self._awaiting_request() or self.transport.is_closing():
            return
        if self._refusal_pending:
            self._send_head_refusal()
        elif self._reading_head() and self._header_timer is None:  # pipelined behind the answer
            self._arm_header_timer()

    def _send_head_refusal(self) -> None:
        self._refusal_pending = False
        error = errors.RequestHeaderSectionTooLarge(MaxSizeAllowed=self.api.max_header_bytes)
        self.transport.write(self._error_bytes(error))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_timer = self.loop.call_later(LINGER_S, self.transport.close)

    def _error_bytes(self, error: S3Error) -> bytes:
        request_id = new_request_id()
        body = render_error(error, "", request_id)
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/xml"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *common_headers(request_id),
        ]
        phrase = http.HTTPStatus(error.status).phrase
        lines = [f"HTTP/1.1 {error.status} {phrase}\r\n".encode()]
        lines.extend(name + b": " + value + b"\r\n" for name, value in headers)
        return b"".join([*lines, b"\r\n", body])


class S3HttpToolsProtocol(_Guarded, HttpToolsProtocol):
    """httptools (llhttp) with the limits. llhttp takes any header size, so the bytes of an incomplete
    head are counted here, after each read: a read that starts a request on a connection with no
    request open is all head; every further read while the head stays incomplete is all head too.
    A request that starts in the same read as another one ends counts, for that read, only its
    request target and complete header lines (llhttp does not say where in the read it began); the
    next read is counted whole, and the header timeout bounds a head that stops there."""

    _in_head = False
    _open = False  # a request has begun and its message (head and body) has not ended
    _messages = 0
    _head_parsed = 0  # request target and complete header lines of the request being read
    _head_received = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._open = True
        self._messages += 1
        self._head_parsed = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_parsed += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_parsed += len(name) + len(value) + 4  # ": " and CRLF

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._open = False
        super().on_message_complete()

    def _reading_head(self) -> bool:
        return self._in_head

    def data_received(self, data: bytes) -> None:
        messages, was_open = self._messages, self._open
        super().data_received(data)
        if not self._in_head or self._discarding or self.transport.is_closing():
            return
        started = self._messages - messages
        if started == 0:
            self._head_received += len(data)
        elif started == 1 and not was_open:
            self._head_received = len(data)
        else:
            self._head_received = self._head_parsed
        if self._head_received > self.head_limit:
            self._refuse_head()


class S3H11Protocol(_Guarded, H11Protocol):
    """h11 with the limits; h11 itself bounds an incomplete head (`max_incomplete_event_size`)."""

    def _guard(self, app_state: dict[str, Any]) -> None:
        super()._guard(app_state)
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.head_limit)

    def _reading_head(self) -> bool:
        return self.conn.their_state is h11.IDLE and bool(self.conn.trailing_data[0])

    def send_400_response(self, msg: str) -> None:
        if len(self.conn.trailing_data[0]) > self.head_limit:
            self._refuse_head()
        else:
            super().send_400_response(msg)


PROTOCOLS: dict[str, type[asyncio.Protocol]] = {"httptools": S3HttpToolsProtocol, "h11": S3H11Protocol}
"""`ApiConfig.http` -> the protocol class uvicorn runs."""
