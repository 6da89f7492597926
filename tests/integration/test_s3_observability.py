"""The S3 endpoint's health endpoints, metrics and access log on the real cluster, driven by boto3."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cluster import RunningCluster


def get(cluster: RunningCluster, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(cluster.endpoint + path, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def s3_requests(cluster: RunningCluster, operation: str, status: str) -> float:
    code, body = get(cluster, "/cairn/metrics")
    assert code == 200
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "cairn_s3_requests_total" and sample.labels == {
                "operation": operation,
                "status": status,
            }:
                return sample.value
    return 0.0


def test_health_endpoints_answer_without_credentials(cluster: RunningCluster) -> None:
    for path in ("/cairn/health/live", "/cairn/health/ready", "/cairn/health/cluster"):
        status, body = get(cluster, path)
        assert status == 200, (path, body)
        assert json.loads(body)["status"] == "ok"
    report = json.loads(get(cluster, "/cairn/health/cluster")[1])
    assert report["pgs_below_write_quorum"] == 0 and report["write_quorum"] == report["k"] + 1


def test_requests_are_counted_and_logged(cluster: RunningCluster, s3: Any) -> None:
    bucket = f"obs-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    before = s3_requests(cluster, "PutObject", "200")
    missing_before = s3_requests(cluster, "GetObject", "404")
    put = s3.put_object(Bucket=bucket, Key="dir/a file.txt", Body=b"z" * 1234)
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="nope")
    assert s3_requests(cluster, "PutObject", "200") == before + 1
    assert s3_requests(cluster, "GetObject", "404") == missing_before + 1

    if cluster.data_dir is None:
        return  # an external endpoint: its log is not ours to read
    request_id = put["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    log = Path(cluster.processes("api")[0]["log"])
    deadline = time.monotonic() + 10
    line = ""
    while time.monotonic() < deadline and not line:
        line = next((x for x in log.read_text().splitlines() if f"request_id={request_id}" in x), "")
        time.sleep(0.1)
    assert "cairn.api_service.access" in line
    assert f"principal={cluster.access_key} operation=PutObject method=PUT bucket={bucket}" in line
    assert 'key="dir/a file.txt" status=200 bytes_in=' in line
    fields = dict(part.split("=", 1) for part in line.split(": ", 1)[1].split(" ") if "=" in part)
    assert int(fields["bytes_in"]) >= 1234  # the body (more if the client sent it aws-chunked)
    assert fields["bytes_out"] == "0" and float(fields["latency_ms"]) > 0


def test_the_bucket_name_cairn_is_reserved(s3: Any) -> None:
    with pytest.raises(ClientError) as refused:
        s3.create_bucket(Bucket="cairn")
    assert refused.value.response["Error"]["Code"] == "InvalidBucketName"
