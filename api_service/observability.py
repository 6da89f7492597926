"""The S3 endpoint's metrics, health endpoints and access log: an ASGI layer around `S3App`.

Paths answered here, before S3 authentication, for GET and HEAD in path style (a virtual-hosted
request always goes to its bucket), on the S3 port:

- `/cairn/metrics`: Prometheus text format, every uvicorn worker's counters summed;
- `/cairn/health/live`: 200 while the worker's event loop runs;
- `/cairn/health/ready`: 200 when this API can serve: the placement service gave it a created
  cluster map and the metadata service answers an access-key lookup (the first step of every
  request); else 503;
- `/cairn/health/cluster`: 200 when the cluster can take writes: besides the above, every
  placement group has at least the write quorum (k+1 by default) of its nodes serving; else 503.
  The JSON body says which PGs are short and whether reads still work everywhere.

Because of these paths the bucket name `cairn` is reserved (CreateBucket refuses it).

Metrics of S3 requests: `cairn_s3_requests_total{operation,status}`,
`cairn_s3_request_duration_seconds{operation}` (from the request's arrival to its last body
byte), `cairn_s3_received_bytes_total{operation}` and `cairn_s3_sent_bytes_total{operation}`
(body bytes). `operation` is the S3 operation name (PutObject, ...) or `-` for a request refused
before routing.

Access log: one line per S3 request on the logger `cairn.api_service.access` (INFO), through
cairn.logs: request id, principal (the access key id once the signature checked out, else `-`),
operation, bucket, key, status, bytes in and out, latency. With `--log-format json` the same
fields are also a `fields` object. `ApiConfig.access_log = false` turns it off.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram

from cairn import metrics
from cairn.erasure import StripeLayout
from cairn.ops_http import CLUSTER_PATH, LIVE_PATH, READY_PATH, Health, run_check
from cairn.placement.cluster_map import SERVING_STATES

from .blob_io import BlobIOConfig
from .router import split_host

access_log = logging.getLogger("cairn.api_service.access")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

METRICS_PATH = "/cairn/metrics"
RESERVED_BUCKET = "cairn"
"""Path-style requests under /cairn/ are the endpoints above; no bucket may take the name."""

ACCESS_KEY = "cairn.access"
"""Where a request's AccessRecord sits in the ASGI scope, for S3App to fill in (`note`)."""

S3_REQUESTS = Counter(
    "cairn_s3_requests", "S3 requests answered, by operation and HTTP status", ["operation", "status"]
)
S3_DURATION = Histogram(
    "cairn_s3_request_duration_seconds",
    "Time from an S3 request's arrival to its last response byte, by operation",
    ["operation"],
    buckets=metrics.LATENCY_BUCKETS,
)
S3_RECEIVED = Counter("cairn_s3_received_bytes", "Request body bytes received, by operation", ["operation"])
S3_SENT = Counter("cairn_s3_sent_bytes", "Response body bytes sent, by operation", ["operation"])


@dataclass(slots=True)
class AccessRecord:
    """What one S3 request was, as far as the app got: filled in by `note`."""

    operation: str = "-"
    bucket: str = ""
    key: str = ""
    principal: str = "-"


def note(scope: Scope, **fields: str) -> None:
    """Record facts about the current request (operation, bucket, key, principal) for the access
    log and metrics; a no-op when the app runs without this layer (unit tests)."""
    record = scope.get(ACCESS_KEY)
    if record is not None:
        for name, value in fields.items():
            setattr(record, name, value)


# --- health ------------------------------------------------------------------------------------

MapSource = Callable[[], Awaitable[Any]]
KeyLookup = Callable[[str], Awaitable[object]]

#: An access key id no key can have (real ids are upper-case letters and digits).
PROBE_ACCESS_KEY = "cairn-health-probe"


class ApiHealth:
    """The checks behind /cairn/health/ready and /cairn/health/cluster."""

    def __init__(
        self,
        cluster_map: MapSource,
        get_access_key: KeyLookup,
        not_found: tuple[type[Exception], ...],
        blob_io: BlobIOConfig,
    ) -> None:
        self._cluster_map = cluster_map
        self._get_access_key = get_access_key
        self._not_found = not_found
        self._blob_io = blob_io

    async def _metadata_answers(self) -> bool:
        try:
            await self._get_access_key(PROBE_ACCESS_KEY)
        except self._not_found:
            pass  # an answer: the metadata service looked the key up
        return True

    async def _serving_map(self) -> tuple[Any, Health | None]:
        """The cluster map, and the failed verdict when it has no PGs yet; then the metadata
        service must answer (raises otherwise)."""
        cmap = await self._cluster_map()
        if not cmap.created:
            return cmap, Health(
                False, {"error": "the cluster map has no placement groups yet", "epoch": cmap.epoch}
            )
        await self._metadata_answers()
        return cmap, None

    async def ready(self) -> Health:
        cmap, failed = await self._serving_map()
        return failed or Health(True, {"epoch": cmap.epoch})

    async def cluster(self) -> Health:
        cmap, failed = await self._serving_map()
        if failed is not None:
            return failed
        quorum = self._blob_io.quorum(StripeLayout(k=cmap.k, m=cmap.m))
        serving = [
            sum(1 for node in cmap.nodes_of(pg) if node is not None and node.state in SERVING_STATES)
            for pg in range(cmap.pg_count)
        ]
        short = [pg for pg, n in enumerate(serving) if n < quorum]
        unreadable = [pg for pg, n in enumerate(serving) if n < cmap.k]
        detail = {
            "epoch": cmap.epoch,
            "k": cmap.k,
            "m": cmap.m,
            "write_quorum": quorum,
            "pgs": cmap.pg_count,
            "pgs_below_write_quorum": len(short),
            "pgs_below_read_quorum": len(unreadable),
            "min_serving_shards": min(serving, default=0),
            "nodes_not_serving": sorted(n.id for n in cmap.nodes.values() if n.state not in SERVING_STATES),
        }
        if short:
            detail["first_pgs_below_write_quorum"] = short[:16]
        return Health(not short, detail)


# --- the ASGI layer ------------------------------------------------------------------------------


class Observed:
    """Wraps the S3 app: answers the ops paths, and measures and logs every S3 request."""

    def __init__(
        self, app: ASGIApp, health: ApiHealth, base_domains: tuple[str, ...], log_requests: bool = True
    ) -> None:
        self.app = app
        self.health = health
        self.base_domains = base_domains
        self.log_requests = log_requests
        self._checks = {LIVE_PATH: None, READY_PATH: health.ready, CLUSTER_PATH: health.cluster}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if (
            path.startswith("/cairn/")
            and scope["method"] in ("GET", "HEAD")
            and (path == METRICS_PATH or path in self._checks)
            and split_host(_host(scope), self.base_domains) is None
        ):
            await self._ops(path, scope, send)
            return
        await self._measured(scope, receive, send)

    async def _ops(self, path: str, scope: Scope, send: Send) -> None:
        if path == METRICS_PATH:
            body, content_type = metrics.exposition()
            status = 200
        else:
            check = self._checks[path]
            health = Health(True) if check is None else await run_check(check)
            status, body, content_type = health.status, health.body(), "application/json"
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _measured(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        record = AccessRecord()
        scope[ACCESS_KEY] = record
        status = 0
        received = sent = 0
        request_id = "-"

        async def counting_receive() -> MutableMapping[str, Any]:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def counting_send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, sent, request_id
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", ()):
                    if name == b"x-amz-request-id":
                        request_id = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        aborted = False
        try:
            await self.app(scope, counting_receive, counting_send)
        except BaseException:
            aborted = True  # the connection is cut (a read that lost its quorum mid-stream)
            raise
        finally:
            elapsed = time.perf_counter() - started
            shown = str(status) if status and not aborted else f"{status or 0}-aborted"
            operation = record.operation
            S3_REQUESTS.labels(operation, shown).inc()
            S3_DURATION.labels(operation).observe(elapsed)
            if received:
                S3_RECEIVED.labels(operation).inc(received)
            if sent:
                S3_SENT.labels(operation).inc(sent)
            if self.log_requests:
                _log_access(request_id, record, scope["method"], shown, received, sent, elapsed)


def _host(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


def _log_access(
    request_id: str, record: AccessRecord, method: str, status: str, received: int, sent: int, elapsed: float
) -> None:
    fields = {
        "request_id": request_id,
        "principal": record.principal,
        "operation": record.operation,
        "method": method,
        "bucket": record.bucket,
        "key": record.key,
        "status": status,
        "bytes_in": received,
        "bytes_out": sent,
        "latency_ms": round(elapsed * 1000, 3),
    }
    text = " ".join(f"{name}={_shown(name, value)}" for name, value in fields.items())
    access_log.info("%s", text, extra={"fields": fields})


def _shown(name: str, value: object) -> str:
    """A field of the text line: `-` when empty, the key JSON-quoted (it may hold spaces)."""
    if value == "":
        return "-"
    return json.dumps(value) if name == "key" else str(value)
