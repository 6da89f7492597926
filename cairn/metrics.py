"""Prometheus metrics of every service: their exposition, and what the services share.

- `exposition()`: the text format of this process's registry, or, when the S3 API runs several
  uvicorn workers, of all of them (prometheus_client's multiprocess mode: each worker writes its
  values under `PROMETHEUS_MULTIPROC_DIR`, which `use_multiprocess_dir` sets up before the
  workers start).

Every gRPC server's request metrics are in `cairn.grpc_metrics` (kept apart so that this module
and `cairn.ops_http` load no grpc). Service-specific metrics live in each service's package
(`api_service/observability.py`, `datanode/metrics.py`, `placement/metrics.py`,
`metadata/metrics.py`) and are served by `cairn.ops_http` (gRPC services) or the S3 port
(`/cairn/metrics`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Buckets of request durations, 1 ms .. 60 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def use_multiprocess_dir() -> Path:
    """Make this process and the workers it starts share metrics through a fresh directory
    (removed when this process exits). Call before any worker imports prometheus_client."""
    directory = Path(tempfile.mkdtemp(prefix="cairn-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def exposition() -> tuple[bytes, str]:
    """(body, content type) of a scrape of this process, or of every worker in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
