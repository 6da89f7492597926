"""The ASGI layer around the S3 app: the /cairn/* endpoints answered before S3 (path style only),
S3 request metrics and one access-log line per request, and the health checks' verdicts on real
cluster maps."""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from typing import Any

import pytest
from prometheus_client import REGISTRY

from cairn.api_service.blob_io import BlobIOConfig
from cairn.api_service.observability import ApiHealth, Observed, note
from cairn.placement.cluster_map import ClusterMap, NodeInfo, NodeState

Message = MutableMapping[str, Any]


class _Inner:
    """Stands in for S3App: notes what it routed, reads the body, answers."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        self.calls += 1
        note(scope, principal="AKIDEXAMPLE", operation="PutObject", bucket="photos", key="a b.jpg")
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/boom":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ConnectionError("lost the read quorum mid-stream")
        headers = [(b"x-amz-request-id", b"REQ123")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"x" * (len(body) // 2)})


def _node(node_id: str, state: str = "up") -> NodeInfo:
    return NodeInfo(node_id, f"127.0.0.1:{node_id[-1]}", "z", "r", node_id, NodeState(state), 100, 0, 0)


def _map(states: dict[str, str], pgs: tuple[tuple[str, ...], ...], k: int = 2, m: int = 1) -> ClusterMap:
    return ClusterMap(7, k, m, len(pgs), {n: _node(n, s) for n, s in states.items()}, pgs)


class _Metadata:
    def __init__(self) -> None:
        self.down = False

    async def get_access_key(self, key_id: str) -> object:
        if self.down:
            raise ConnectionError("metadata unreachable")
        raise LookupError(key_id)  # the "no such key" answer


def _health(cmap: ClusterMap, metadata: _Metadata | None = None) -> ApiHealth:
    async def cluster_map() -> ClusterMap:
        return cmap

    return ApiHealth(cluster_map, (metadata or _Metadata()).get_access_key, (LookupError,), BlobIOConfig())


async def _request(
    app: Observed, method: str, path: str, body: bytes = b"", host: str = "127.0.0.1:9000"
) -> tuple[int, dict[bytes, bytes], bytes]:
    scope = {"type": "http", "method": method, "path": path, "headers": [(b"host", host.encode())]}
    chunks = [
        {"type": "http.request", "body": body[:3], "more_body": True},
        {"type": "http.request", "body": body[3:]},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return chunks.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_s3_requests_are_measured_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    inner = _Inner()
    app = Observed(inner, _health(_map({}, ())), ("s3.localhost",))
    before = (
        _sample("cairn_s3_requests_total", operation="PutObject", status="200"),
        _sample("cairn_s3_received_bytes_total", operation="PutObject"),
        _sample("cairn_s3_sent_bytes_total", operation="PutObject"),
        _sample("cairn_s3_request_duration_seconds_count", operation="PutObject"),
    )
    with caplog.at_level(logging.INFO, logger="cairn.api_service.access"):
        status, _, body = await _request(app, "PUT", "/photos/a%20b.jpg", b"0123456789")
    assert (status, body) == (200, b"xxxxx")
    assert _sample("cairn_s3_requests_total", operation="PutObject", status="200") == before[0] + 1
    assert _sample("cairn_s3_received_bytes_total", operation="PutObject") == before[1] + 10
    assert _sample("cairn_s3_sent_bytes_total", operation="PutObject") == before[2] + 5
    assert _sample("cairn_s3_request_duration_seconds_count", operation="PutObject") == before[3] + 1
    (record,) = [r for r in caplog.records if r.name == "cairn.api_service.access"]
    line = record.getMessage()
    assert line.startswith(
        "request_id=REQ123 principal=AKIDEXAMPLE operation=PutObject method=PUT bucket=photos"
    )
    assert 'key="a b.jpg" status=200 bytes_in=10 bytes_out=5 latency_ms=' in line
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["request_id"] == "REQ123" and fields["bytes_in"] == 10 and fields["status"] == "200"


async def test_a_response_cut_mid_stream_is_counted_as_aborted(caplog: pytest.LogCaptureFixture) -> None:
    app = Observed(_Inner(), _health(_map({}, ())), ())
    before = _sample("cairn_s3_requests_total", operation="PutObject", status="200-aborted")
    with caplog.at_level(logging.INFO, logger="cairn.api_service.access"), pytest.raises(ConnectionError):
        await _request(app, "GET", "/boom")
    assert _sample("cairn_s3_requests_total", operation="PutObject", status="200-aborted") == before + 1
    assert "status=200-aborted" in caplog.records[-1].getMessage()


async def test_ops_paths_are_answered_before_s3_in_path_style_only() -> None:
    inner = _Inner()
    app = Observed(inner, _health(_map({"a": "up"}, (("a",),), k=1, m=0)), ("s3.localhost",))
    status, headers, body = await _request(app, "GET", "/cairn/metrics")
    assert status == 200 and b"cairn_s3_requests_total" in body
    assert headers[b"content-type"].startswith(b"text/plain")
    status, _, body = await _request(app, "GET", "/cairn/health/live")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _, body = await _request(app, "HEAD", "/cairn/health/ready")
    assert (status, body) == (200, b"")
    assert inner.calls == 0
    # a virtual-hosted request for a key named like the endpoint is the bucket's object
    await _request(app, "GET", "/cairn/metrics", host="photos.s3.localhost")
    # other methods and other paths under /cairn/ are S3 requests (bucket "cairn" cannot exist)
    await _request(app, "PUT", "/cairn/health/live")
    await _request(app, "GET", "/cairn/something")
    assert inner.calls == 3


async def test_cluster_health_follows_the_write_quorum() -> None:
    pgs = (("a", "b", "c"), ("b", "c", "d"))
    healthy = _map({"a": "up", "b": "up", "c": "up", "d": "draining"}, pgs)
    report = await _health(healthy).cluster()
    assert report.ok and report.detail["write_quorum"] == 3 and report.detail["pgs_below_write_quorum"] == 0

    one_down = _map(
        {"a": "down", "b": "up", "c": "up", "d": "up"}, pgs
    )  # PG 0 has 2 of 3: readable, not writable
    report = await _health(one_down).cluster()
    assert not report.ok and report.status == 503
    assert report.detail["pgs_below_write_quorum"] == 1 and report.detail["pgs_below_read_quorum"] == 0
    assert report.detail["first_pgs_below_write_quorum"] == [0]
    assert report.detail["nodes_not_serving"] == ["a"]
    assert (await _health(one_down).ready()).ok  # this API still serves reads

    not_created = _map({"a": "up"}, ())
    assert not (await _health(not_created).ready()).ok
    assert not (await _health(not_created).cluster()).ok


async def test_ready_needs_the_metadata_service() -> None:
    metadata = _Metadata()
    health = _health(_map({"a": "up"}, (("a",),), k=1, m=0), metadata)
    assert (await health.ready()).ok
    metadata.down = True
    app = Observed(_Inner(), health, ())
    status, _, body = await _request(app, "GET", "/cairn/health/ready")
    assert status == 503 and "metadata unreachable" in json.loads(body)["error"]
