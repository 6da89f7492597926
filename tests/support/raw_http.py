"""Raw HTTP over sockets, for tests of what no well-behaved client sends: oversize heads, heads sent
one byte at a time, connections held open."""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> ET.Element:
        """The S3 XML error body (asserting it is one)."""
        assert self.headers.get("content-type", "").startswith("application/xml"), self.body[:200]
        return ET.fromstring(self.body)


def connect(url: str, timeout: float = 20.0, cafile: str | None = None) -> socket.socket:
    """A socket to the endpoint `url` (TLS when https, verified against `cafile`)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=timeout)
    if parts.scheme == "https":
        return ssl.create_default_context(cafile=cafile).wrap_socket(sock, server_hostname=parts.hostname)
    return sock


class PayloadAuth(S3SigV4Auth):
    """SigV4 header signing with a chosen x-amz-content-sha256 (botocore's would hash the body)."""

    def __init__(self, credentials: Credentials, region: str, payload: str) -> None:
        super().__init__(credentials, "s3", region)
        self._payload = payload

    def payload(self, request: AWSRequest) -> str:
        return self._payload


def signed_head(
    url: str,
    method: str,
    path: str,
    headers: dict[str, str],
    credentials: tuple[str, str],
    region: str,
    payload: str = "UNSIGNED-PAYLOAD",
) -> bytes:
    """The request line and headers of `method path` on the endpoint `url`, SigV4-signed with
    (access key, secret) and `payload` as x-amz-content-sha256, ready to write to a socket before
    any body."""
    request = AWSRequest(method=method, url=url + path, headers={**headers})
    PayloadAuth(Credentials(*credentials), region, payload).add_auth(request)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(url).netloc}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def http_chunked(pieces: list[bytes]) -> bytes:
    """`pieces` framed as an HTTP/1.1 `Transfer-Encoding: chunked` body (with its last, empty chunk)."""
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces if piece) + b"0\r\n\r\n"


def read_reply(sock: socket.socket) -> Reply:
    """The next answer on `sock` (for one answer: its buffered reader may take bytes past it)."""
    return read_replies(sock, 1)[0]


class _SharedReader(io.BufferedReader):
    """One buffered reader of a socket for successive HTTPResponse objects, each of which would
    otherwise buffer (and lose) the start of the next answer, and close the reader after its body."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(socket.SocketIO(sock, "rb"))

    def makefile(self, mode: str) -> _SharedReader:
        return self

    def close(self) -> None:
        pass


def read_replies(sock: socket.socket, count: int) -> list[Reply]:
    """The next `count` answers on `sock`, in order (pipelined requests)."""
    reader = _SharedReader(sock)
    replies = []
    for _ in range(count):
        response = http.client.HTTPResponse(reader)  # type: ignore[arg-type]  # anything with makefile()
        response.begin()
        headers = {k.lower(): v for k, v in response.getheaders()}
        replies.append(Reply(response.status, headers, response.read()))
    return replies


def closed_by_server(sock: socket.socket) -> bool:
    """Read until EOF (True) or the socket's timeout (False)."""
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def send_ignoring_reset(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def send_endless_header(sock: socket.socket, size: int = 1 << 20) -> Reply:
    """Send a request head with a `size`-byte header that never ends, and read the answer (which
    only a server refusing the head as it arrives gives)."""
    return send_endless_header_after(sock, b"", 1, size)[0]


def send_endless_header_after(sock: socket.socket, requests: bytes, count: int, size: int) -> list[Reply]:
    """Send `requests` and, in the same write, a request head with a `size`-byte header that never
    ends; read `count` answers."""
    head = requests + b"PUT /any/key HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Big: " + b"a" * size
    sender = threading.Thread(target=send_ignoring_reset, args=(sock, head))
    sender.start()
    try:
        return read_replies(sock, count)
    finally:
        sender.join(20)


@dataclass
class Slowloris:
    replies: list[bytes]  # what the server sent on each slow connection before closing it
    still_open: int
    served: int  # requests of the other client answered while the slow connections were held


def slowloris(url: str, count: int, other_client: Callable[[], None], deadline_s: float = 60.0) -> Slowloris:
    """Open `count` connections that send a request head one byte at a time, forever, calling
    `other_client` (which must raise on failure) between rounds; stop when the server has closed
    them all, or after `deadline_s`."""
    head = b"GET /slow HTTP/1.1\r\nHost: slow\r\nX-Trickle: "
    slow = [connect(url) for _ in range(count)]
    for sock in slow:
        sock.setblocking(False)
    replies = [b""] * count
    open_ = set(range(count))
    served = 0
    deadline = time.monotonic() + deadline_s
    try:
        while open_ and time.monotonic() < deadline:
            byte = head[served : served + 1] or b"a"
            for i in list(open_):
                if not _trickle(slow[i], byte, replies, i):
                    open_.discard(i)
            other_client()
            served += 1
            time.sleep(0.05)
    finally:
        for sock in slow:
            sock.close()
    return Slowloris(replies, len(open_), served)


def _trickle(sock: socket.socket, byte: bytes, replies: list[bytes], i: int) -> bool:
    """Collect what the server sent on a non-blocking socket, then send one more byte; False once
    the server closed it."""
    try:
        while data := sock.recv(65536):
            replies[i] += data
        return False
    except BlockingIOError:
        pass
    except OSError:
        return False
    try:
        sock.send(byte)
    except BlockingIOError:
        pass
    except OSError:
        return False
    return True
