"""The HTTP edge under abuse, over real sockets: oversize heads, slowloris, idle connections, stalled
bodies and the connection cap, against the real app and protocol under uvicorn with uvloop, with
each HTTP parser (httptools, h11)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cairn.api_service.config import ApiConfig
from tests.support import raw_http
from tests.support.raw_http import (
    closed_by_server,
    read_reply,
    send_endless_header,
    send_endless_header_after,
    slowloris,
)

from .harness import Endpoint, code_of, serve

PARSERS = ["httptools", "h11"]


def connect(endpoint: Endpoint) -> socket.socket:
    return raw_http.connect(endpoint.url)


@pytest.fixture(params=PARSERS)
def parser(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.contextmanager
def endpoint_with(parser: str, **limits: Any) -> Iterator[Endpoint]:
    with serve(ApiConfig(http=parser, **limits), loop="uvloop") as endpoint:
        yield endpoint


# --- header section --------------------------------------------------------------------------------


def test_a_one_mebibyte_header_is_refused_as_it_arrives(parser: str) -> None:
    """The head never ends: only a refusal while it arrives answers (nothing is buffered past the limit)."""
    with endpoint_with(parser) as endpoint, connect(endpoint) as sock:
        reply = send_endless_header(sock)
        assert reply.status == 400
        error = reply.error()
        assert error.findtext("Code") == "RequestHeaderSectionTooLarge"
        assert error.findtext("MaxSizeAllowed") == "8192"
        assert reply.headers["x-amz-request-id"] == error.findtext("RequestId")
        assert reply.headers["connection"] == "close"
        assert closed_by_server(sock)
        endpoint.client().list_buckets()  # the endpoint still serves


@pytest.mark.parametrize("size", [16 << 10, 100 << 10])
def test_an_oversize_head_arriving_in_one_read_is_refused_at_once(parser: str, size: int) -> None:
    """A never-ending head a little past the bound, small enough to arrive in one or two reads, is
    refused then, not left for the header timeout (60 s here, past the socket's 20 s)."""
    with endpoint_with(parser, header_timeout_s=60) as endpoint, connect(endpoint) as sock:
        started = time.monotonic()
        reply = send_endless_header(sock, size)
        assert (reply.status, reply.error().findtext("Code")) == (400, "RequestHeaderSectionTooLarge")
        assert time.monotonic() - started < 5
        assert closed_by_server(sock)


PIPELINED = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b/c HTTP/1.1\r\nHost: x\r\n\r\n"


def assert_pipelined_answers(first: raw_http.Reply, second: raw_http.Reply) -> None:
    assert [(r.status, r.error().findtext("Resource")) for r in (first, second)] == [
        (404, "/a"),  # anonymous, on no bucket: NoSuchBucket, as S3 answers
        (404, "/b/c"),
    ]


def test_an_oversize_head_behind_pipelined_requests_is_refused_after_their_answers(parser: str) -> None:
    """The refusal of a never-ending head sent in the same write as two requests comes after their
    answers, in request order, though the head may cross the bound before they are answered."""
    with endpoint_with(parser, header_timeout_s=60) as endpoint, connect(endpoint) as sock:
        first, second, third = send_endless_header_after(sock, PIPELINED, 3, 1 << 20)
        assert_pipelined_answers(first, second)
        assert (third.status, third.error().findtext("Code")) == (400, "RequestHeaderSectionTooLarge")
        assert closed_by_server(sock)


def test_a_head_left_incomplete_behind_pipelined_requests_times_out(parser: str) -> None:
    """The header timeout of a head pipelined behind other requests runs from their answers."""
    with endpoint_with(parser, header_timeout_s=1) as endpoint, connect(endpoint) as sock:
        sock.sendall(PIPELINED + b"GET /never HTTP/1.1\r\nHost: x\r\n")
        first, second, third = raw_http.read_replies(sock, 3)
        assert_pipelined_answers(first, second)
        assert (third.status, third.error().findtext("Code")) == (400, "RequestTimeout")
        assert closed_by_server(sock)


def test_a_complete_oversize_head_is_refused_before_the_body(parser: str) -> None:
    """A head that arrives whole is measured exactly: refused without the 100 Continue that would
    make the client send its body."""
    with endpoint_with(parser) as endpoint, connect(endpoint) as sock:
        s3 = endpoint.client()
        s3.create_bucket(Bucket="heads")
        head = endpoint.signed_head(
            "PUT",
            "/heads/k",
            {"Content-Length": "5", "Expect": "100-continue", "x-amz-meta-big": "m" * 9000},
        )
        sock.sendall(head)
        reply = read_reply(sock)
        assert reply.status == 400  # not 100 Continue
        assert reply.error().findtext("Code") == "RequestHeaderSectionTooLarge"
        assert reply.headers["connection"] == "close"
        with pytest.raises(ClientError) as exc:
            s3.head_object(Bucket="heads", Key="k")
        assert code_of(exc) == ("404", 404)


def test_headers_within_the_limit_are_served(parser: str) -> None:
    with endpoint_with(parser) as endpoint:
        s3 = endpoint.client()
        s3.create_bucket(Bucket="within")
        metadata = {f"m{i}": "v" * 150 for i in range(12)}  # just under the 2 KiB metadata limit
        s3.put_object(Bucket="within", Key="k", Body=b"x", Metadata=metadata)
        assert s3.head_object(Bucket="within", Key="k")["Metadata"] == metadata


# --- slow and idle connections ---------------------------------------------------------------------


def test_slowloris_connections_are_closed_while_others_are_served(parser: str) -> None:
    """300 connections sending their headers one byte at a time are closed after the header timeout
    (the bytes do not extend it), each with 400 RequestTimeout, while other clients are served."""
    with endpoint_with(parser, header_timeout_s=1.0) as endpoint:
        s3 = endpoint.client()

        def other_client() -> None:
            assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200

        attack = slowloris(endpoint.url, 300, other_client)
        assert attack.still_open == 0
        assert attack.served > 1
        timed_out = [r for r in attack.replies if b"<Code>RequestTimeout</Code>" in r]
        assert len(timed_out) == 300, attack.replies[0][:300]
        assert all(r.startswith(b"HTTP/1.1 400 ") for r in timed_out)


def test_a_connection_that_never_sends_is_closed_after_the_header_timeout(parser: str) -> None:
    with endpoint_with(parser, header_timeout_s=0.5) as endpoint, connect(endpoint) as sock:
        assert sock.recv(65536) == b""  # closed, with no answer to a request never made


def test_an_idle_keep_alive_connection_is_closed(parser: str) -> None:
    with endpoint_with(parser, idle_timeout_s=0.5, header_timeout_s=60) as endpoint:
        with connect(endpoint) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = read_reply(sock)
            assert reply.status == 403  # anonymous
            assert reply.headers.get("connection") != "close"  # kept alive, until idle
            assert closed_by_server(sock)


def test_a_stalled_body_is_a_request_timeout(parser: str) -> None:
    with endpoint_with(parser, body_timeout_s=0.5) as endpoint, connect(endpoint) as sock:
        s3 = endpoint.client()
        s3.create_bucket(Bucket="stall")
        sock.sendall(endpoint.signed_head("PUT", "/stall/k", {"Content-Length": "100"}) + b"0123456789")
        reply = read_reply(sock)
        assert reply.status == 400
        assert reply.error().findtext("Code") == "RequestTimeout"
        with pytest.raises(ClientError) as exc:
            s3.head_object(Bucket="stall", Key="k")
        assert code_of(exc) == ("404", 404)


# --- connection cap --------------------------------------------------------------------------------


def test_connections_past_the_cap_get_slow_down(parser: str) -> None:
    with endpoint_with(parser, max_connections=3, header_timeout_s=60) as endpoint:
        held = [connect(endpoint) for _ in range(3)]
        with connect(endpoint) as extra:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = read_reply(extra)
            assert reply.status == 503
            error = reply.error()
            assert error.findtext("Code") == "SlowDown"
            assert reply.headers["x-amz-request-id"] == error.findtext("RequestId")
            assert reply.headers["connection"] == "close"
            assert closed_by_server(extra)
        with pytest.raises(ClientError) as exc:
            endpoint.client().list_buckets()
        assert code_of(exc) == ("SlowDown", 503)
        for sock in held:
            sock.close()
        s3 = endpoint.client()
        deadline = time.monotonic() + 20
        while True:  # the server notices the closed connections
            try:
                s3.list_buckets()
                break
            except ClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
