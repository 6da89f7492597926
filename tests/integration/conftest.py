"""A real local cluster, started once for the integration suite (or an external endpoint)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cluster import RunningCluster, external_cluster, start_cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    external = external_cluster()
    if external is not None:
        yield external
        return
    # SSE-C over plain HTTP, which S3 refuses, is the operator's choice (test_e2e_sse.py uses it)
    env = {"CAIRN_API_SSE_C_ALLOW_HTTP": "true"}
    running = start_cluster(tmp_path_factory.mktemp("cairn-cluster"), env=env)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def s3(cluster: RunningCluster):  # type: ignore[no-untyped-def]
    return cluster.s3_client()
