"""Bucket tagging end to end through boto3 and the aws CLI: Put/Get/DeleteBucketTagging,
NoSuchTagSet, S3's limits (50 tags, key and value lengths, characters, duplicate keys)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_e2e_aws_cli import aws, s3api
from tests.support.cluster import RunningCluster


def tag_set(pairs: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in pairs.items()]}


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"e2e-btag-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def test_put_get_delete_bucket_tagging(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_of(missing) == (404, "NoSuchTagSet")
    tags = {"cost-center": "42", "team": "storage büro", "a:b/c": "x=y+z@w", "empty": ""}
    put = s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(tags))
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set(tags)["TagSet"]
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set({"only": "one"}))  # replaces the set
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "only", "Value": "one"}]
    # the bucket's objects are not tagged by it
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    assert s3.delete_bucket_tagging(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as gone:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_of(gone) == (404, "NoSuchTagSet")
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set({"a": "b"}))
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []})  # an empty set removes the tags
    with pytest.raises(ClientError) as emptied:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_of(emptied) == (404, "NoSuchTagSet")
    with pytest.raises(ClientError) as no_bucket:
        s3.get_bucket_tagging(Bucket=bucket + "-missing")
    assert error_of(no_bucket) == (404, "NoSuchBucket")


@pytest.mark.parametrize(
    "pairs",
    [
        [(f"k{i}", "v") for i in range(51)],
        [("k" * 129, "v")],
        [("k", "v" * 257)],
        [("", "v")],
        [("bad#key", "v")],
        [("k", "v"), ("k", "w")],
    ],
)
def test_invalid_bucket_tag_sets_are_refused(
    cluster: RunningCluster, s3: Any, bucket: str, pairs: list[tuple[str, str]]
) -> None:
    unchecked = cluster.s3_client(parameter_validation=False)  # sends what the SDK would refuse
    with pytest.raises(ClientError) as exc:
        unchecked.put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in pairs]}
        )
    assert error_of(exc) == (400, "InvalidTag")
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)  # nothing was stored


def test_fifty_tags_are_allowed(s3: Any, bucket: str) -> None:
    tags = {f"k{i:02d}": f"v{i}" for i in range(50)}
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(tags))
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50


def test_aws_cli_round_trip(cluster: RunningCluster, bucket: str) -> None:
    tagging = json.dumps(tag_set({"env": "prod", "owner": "ops"}))
    s3api(cluster, "put-bucket-tagging", "--bucket", bucket, "--tagging", tagging)
    assert s3api(cluster, "get-bucket-tagging", "--bucket", bucket)["TagSet"] == json.loads(tagging)["TagSet"]
    s3api(cluster, "delete-bucket-tagging", "--bucket", bucket)
    assert (
        "NoSuchTagSet" in aws(cluster, "s3api", "get-bucket-tagging", "--bucket", bucket, check=False).stderr
    )
