"""The identity probe of `cairn up`: a ListBuckets signed by the CRT signer, checked by Cairn's own
SigV4 verifier in a small local HTTP server, what it makes of answers from other servers, and
`cairn up` waiting for its own cluster's answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cairn import local_cluster
from cairn.api_service.errors import S3Error
from cairn.api_service.sigv4 import Credentials, RawRequest, verify
from cairn.local_cluster import LocalCluster
from cairn.local_config import UpConfig
from cairn.s3_identity import ProbeFailed, list_buckets_owner
from cairn.signing import SecretSigner
from tests.support.procs import free_port

KEY, SECRET, OWNER = "ROOTKEY", "root-secret", "AIDAROOT0000000001"
BUCKETS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    f"<Owner><ID>{OWNER}</ID><DisplayName>{OWNER}</DisplayName></Owner><Buckets></Buckets>"
    "</ListAllMyBucketsResult>"
)


async def _lookup(key: str) -> Credentials | None:
    return Credentials(SecretSigner(SECRET), OWNER, True) if key == KEY else None


class _S3(BaseHTTPRequestHandler):
    """Answers GET / like the S3 API: verified with api_service.sigv4, else an S3 error."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path, _, query = self.path.partition("?")
        raw = RawRequest("GET", path, query, {k.lower(): v for k, v in self.headers.items()})
        try:
            asyncio.run(verify(raw, _lookup, now=datetime.now(UTC)))
        except S3Error as exc:
            self._answer(exc.status, f"<Error><Code>{exc.code}</Code></Error>")
        else:
            self._answer(200, BUCKETS)

    def _answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class _Other(_S3):
    """Some other web server holding the port: 200 to anything."""

    def do_GET(self) -> None:  # noqa: N802
        self._answer(200, "<html><body>It works!</body></html>")


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def s3() -> Iterator[str]:
    yield from _serve(_S3)


@pytest.fixture
def other() -> Iterator[str]:
    yield from _serve(_Other)


def test_a_signed_list_buckets_returns_the_owner(s3: str) -> None:
    assert list_buckets_owner(s3, KEY, SECRET, "us-east-1") == OWNER
    assert list_buckets_owner(s3, KEY, SECRET, "eu-west-1") == OWNER


def test_wrong_credentials_are_not_an_identity(s3: str) -> None:
    with pytest.raises(ProbeFailed, match="HTTP 403 SignatureDoesNotMatch"):
        list_buckets_owner(s3, KEY, "another-secret", "us-east-1")
    with pytest.raises(ProbeFailed, match="HTTP 403 InvalidAccessKeyId"):
        list_buckets_owner(s3, "OTHERKEY", SECRET, "us-east-1")


def test_any_200_is_not_an_identity(other: str) -> None:
    with pytest.raises(ProbeFailed, match="not a bucket list"):
        list_buckets_owner(other, KEY, SECRET, "us-east-1")


def test_nobody_listening() -> None:
    with pytest.raises(ProbeFailed, match="no answer"):
        list_buckets_owner(f"http://127.0.0.1:{free_port()}", KEY, SECRET, "us-east-1", timeout_s=2)


def _cluster(endpoint: str, root_owner: str, monkeypatch: pytest.MonkeyPatch) -> LocalCluster:
    """A LocalCluster whose S3 API is `endpoint` and whose metadata names `root_owner` as root."""
    cluster = LocalCluster(UpConfig(port=int(endpoint.rsplit(":", 1)[1])))
    cluster.tls, cluster.access_key, cluster.secret_key = None, KEY, SECRET

    async def root_owner_id() -> str:
        return root_owner

    monkeypatch.setattr(cluster, "_root_owner_id", root_owner_id)
    monkeypatch.setattr(local_cluster, "READY_TIMEOUT_S", 1.0)
    return cluster


def test_cairn_up_is_ready_only_when_its_own_cluster_answers(
    s3: str, other: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_cluster(s3, OWNER, monkeypatch)._wait_identity())
    with pytest.raises(
        SystemExit, match=f"answered as owner {OWNER}, not as this cluster's root user AIDAANOTHERCLUSTER"
    ):
        asyncio.run(_cluster(s3, "AIDAANOTHERCLUSTER", monkeypatch)._wait_identity())
    with pytest.raises(
        SystemExit, match="did not answer as this cluster .the answer to ListBuckets is not a bucket"
    ):
        asyncio.run(_cluster(other, OWNER, monkeypatch)._wait_identity())
