"""The HTTP edge of real API processes (uvicorn, uvloop, httptools) under abuse: an oversize head, a
slowloris client, the connection cap, and browser form POSTs routed before authentication.

The cluster's own endpoint is checked with its defaults; the timeout and cap checks start extra
`python -m cairn.api_service` processes on the same cluster with short limits from a TOML file,
one of them with two worker processes (each worker must enforce the file's limits).
"""

from __future__ import annotations

import contextlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import urllib3
from botocore.config import Config
from botocore.exceptions import ClientError

from cairn.mtls import ClusterPki
from tests.support.cluster import RunningCluster
from tests.support.procs import ServiceProcess, free_port, port_open, wait_for
from tests.support.raw_http import (
    closed_by_server,
    connect,
    read_reply,
    send_endless_header,
    signed_head,
    slowloris,
)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"e2e-edge-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


@contextlib.contextmanager
def api_process(cluster: RunningCluster, tmp_path: Path, workers: int, limits: str) -> Iterator[Any]:
    """An extra API process on `cluster`'s services with the TOML `limits`; yields its boto3 client."""
    if cluster.data_dir is None:
        pytest.skip("starting an API process needs the local cluster's metadata and placement addresses")
    port = free_port()
    config = tmp_path / f"api-{port}.toml"
    config.write_text(limits)
    placement = ",".join(p["addr"] for p in cluster.processes("placement"))
    metadata = ",".join(p["addr"] for p in cluster.processes("metadata"))
    args = ["--port", str(port), "--metadata", metadata]
    args += ["--placement", placement, "--workers", str(workers), "--config", str(config)]
    # the cluster's internal calls take mutual TLS: the extra API process gets the api role's files
    identity = dict(ClusterPki(cluster.data_dir).identity("api").env())
    proc = ServiceProcess("cairn.api_service", args, tmp_path / f"api-{port}.log", env=identity).start()
    try:
        wait_for(lambda: port_open(port), 60, f"the API process on port {port}")
        yield boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=cluster.access_key,
            aws_secret_access_key=cluster.secret_key,
            region_name=cluster.region,
            config=Config(retries={"max_attempts": 1}),
        )
    finally:
        proc.stop(timeout=20)


def test_a_one_mebibyte_header_is_refused(cluster: RunningCluster, s3: Any) -> None:
    with connect(cluster.endpoint, cafile=cluster.tls_cert) as sock:
        reply = send_endless_header(sock)
        assert reply.status == 400
        assert reply.error().findtext("Code") == "RequestHeaderSectionTooLarge"
        assert closed_by_server(sock)
    s3.list_buckets()


def test_slowloris_is_closed_by_every_worker(cluster: RunningCluster, tmp_path: Path) -> None:
    with api_process(cluster, tmp_path, workers=2, limits="header_timeout_s = 1.0\n") as s3:
        s3.list_buckets()

        def other_client() -> None:
            s3.list_buckets()

        attack = slowloris(s3.meta.endpoint_url, 300, other_client)
        assert attack.still_open == 0
        assert attack.served > 1
        assert all(b"<Code>RequestTimeout</Code>" in r for r in attack.replies), attack.replies[0][:300]


def test_connections_past_the_cap_get_slow_down(cluster: RunningCluster, tmp_path: Path) -> None:
    limits = "max_connections = 4\nheader_timeout_s = 60.0\n"
    with api_process(cluster, tmp_path, workers=1, limits=limits) as s3:
        held = [connect(s3.meta.endpoint_url) for _ in range(4)]  # the client's will be the fifth
        try:
            with pytest.raises(ClientError) as exc:
                s3.list_buckets()
            response = exc.value.response
            assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (
                503,
                "SlowDown",
            )
        finally:
            for sock in held:
                sock.close()

        def served() -> bool:
            try:
                s3.list_buckets()
            except ClientError:
                return False
            return True

        wait_for(served, 20, "the API to serve again once the held connections closed")


def test_a_stalled_body_is_a_request_timeout(cluster: RunningCluster, tmp_path: Path, bucket: str) -> None:
    with api_process(cluster, tmp_path, workers=1, limits="body_timeout_s = 1.0\n") as s3:
        url = s3.meta.endpoint_url
        credentials = (cluster.access_key, cluster.secret_key)
        with connect(url) as sock:
            sock.sendall(
                signed_head(url, "PUT", f"/{bucket}/k", {"Content-Length": "100"}, credentials, "us-east-1")
            )
            sock.sendall(b"only ten b")
            reply = read_reply(sock)
        assert (reply.status, reply.error().findtext("Code")) == (400, "RequestTimeout")
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# --- browser form uploads --------------------------------------------------------------------------


def http(cluster: RunningCluster) -> urllib3.PoolManager:
    return urllib3.PoolManager(ca_certs=cluster.tls_cert, timeout=30, retries=False)


def form_post(cluster: RunningCluster, url: str, data: dict[str, str], file: bool = True) -> tuple[int, str]:
    fields: list[tuple[str, Any]] = list(data.items())
    if file:
        fields.append(("file", ("a.txt", b"form content", "text/plain")))
    response = http(cluster).request("POST", url, fields=fields)
    assert response.headers.get("x-amz-request-id")
    return response.status, ET.fromstring(response.data).findtext("Code") or "" if response.data else ""


def test_form_posts_get_s3_answers_not_anonymous_refusals(
    cluster: RunningCluster, s3: Any, bucket: str
) -> None:
    url = f"{cluster.endpoint}/{bucket}"
    response = http(cluster).request("POST", url, body=b"key=k", headers={"Content-Type": "text/plain"})
    assert response.status == 412
    assert b"multipart/form-data" in response.data
    assert form_post(cluster, url, {"key": "k"}, file=False) == (400, "InvalidArgument")
    assert form_post(cluster, url, {"key": "k"}) == (403, "AccessDenied")
    presigned = s3.generate_presigned_post(bucket, "uploaded.txt")
    assert presigned["url"].rstrip("/").endswith(bucket)
    fields = dict(presigned["fields"])
    assert form_post(cluster, presigned["url"], fields) == (204, "")  # a signed form stores its file
    assert s3.get_object(Bucket=bucket, Key="uploaded.txt")["Body"].read() == b"form content"
    s3.delete_object(Bucket=bucket, Key="uploaded.txt")
    fields.pop("x-amz-signature" if "x-amz-signature" in fields else "signature")  # SigV4 or SigV2 form
    assert form_post(cluster, presigned["url"], fields) == (400, "InvalidArgument")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
