"""Object tagging end to end through boto3 and the aws CLI: Put/Get/DeleteObjectTagging per
version, `x-amz-tagging` on PutObject/CopyObject/CreateMultipartUpload, `x-amz-tagging-count` on
GET/HEAD, S3's limits (InvalidTag), and an `aws s3 cp` S3-to-S3 copy of a 9 MiB object with the
tag calls AWS CLI v2 makes around it."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_e2e_aws_cli import aws, s3api
from tests.support.cluster import RunningCluster

MiB = 1024 * 1024


def tag_set(pairs: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in pairs.items()]}


def tags_of(s3: Any, bucket: str, key: str, **kw: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]}


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"e2e-tag-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def test_put_get_delete_object_tagging(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    assert (
        "x-amz-tagging-count" not in s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]
    )
    tags = {"team": "storage", "env": "prod büro", "a:b/c": "x=y+z@w", "empty": ""}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(tags))
    assert tags_of(s3, bucket, "k") == tags
    assert (
        s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"]
        == "4"
    )
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["TagCount"] == 4 and got["Body"].read() == b"data"
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set({"only": "one"}))  # replaces the set
    assert tags_of(s3, bucket, "k") == {"only": "one"}
    response = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(s3, bucket, "k") == {}
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


def test_tagging_a_missing_key_or_bucket(s3: Any, bucket: str) -> None:
    for call in (
        lambda: s3.get_object_tagging(Bucket=bucket, Key="nope"),
        lambda: s3.put_object_tagging(Bucket=bucket, Key="nope", Tagging=tag_set({"a": "b"})),
        lambda: s3.delete_object_tagging(Bucket=bucket, Key="nope"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.get_object_tagging(Bucket=bucket + "-gone", Key="k")
    assert error_of(exc) == (404, "NoSuchBucket")


def test_tags_belong_to_one_version(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one", Tagging="gen=1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    assert tags_of(s3, bucket, "k") == {}
    answer = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert answer["VersionId"] == v1 and {t["Key"]: t["Value"] for t in answer["TagSet"]} == {"gen": "1"}
    put = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1, Tagging=tag_set({"gen": "one"}))
    assert put["VersionId"] == v1
    assert s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set({"gen": "2"}))["VersionId"] == v2
    assert tags_of(s3, bucket, "k", VersionId=v1) == {"gen": "one"}
    assert tags_of(s3, bucket, "k", VersionId=v2) == {"gen": "2"}
    assert s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=v1)["VersionId"] == v1
    assert tags_of(s3, bucket, "k", VersionId=v1) == {} and tags_of(s3, bucket, "k") == {"gen": "2"}
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.get_object_tagging(Bucket=bucket, Key="k")
    assert error_of(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=marker, Tagging=tag_set({"a": "b"}))
    assert error_of(exc) == (405, "MethodNotAllowed")
    assert tags_of(s3, bucket, "k", VersionId=v2) == {"gen": "2"}


LIMITS = [
    pytest.param({f"k{i}": "v" for i in range(11)}, id="11-tags"),
    pytest.param({"k" * 129: "v"}, id="key-129"),
    pytest.param({"k": "v" * 257}, id="value-257"),
    pytest.param({"": "v"}, id="empty-key"),
    pytest.param({"bad*key": "v"}, id="key-character"),
    pytest.param({"k": "bad#value"}, id="value-character"),
]


@pytest.mark.parametrize("tags", LIMITS)
def test_tag_limits_answer_invalid_tag_and_change_nothing(
    cluster: RunningCluster, s3: Any, bucket: str, tags: dict[str, str]
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    unchecked = cluster.s3_client(parameter_validation=False)  # botocore refuses an empty key itself
    with pytest.raises(ClientError) as exc:
        unchecked.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(tags))
    assert error_of(exc) == (400, "InvalidTag")
    header = "&".join(f"{k}={v}" for k, v in tags.items()).replace("#", "%23")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"y", Tagging=header)
    assert error_of(exc) == (400, "InvalidTag")
    assert tags_of(s3, bucket, "k") == {"keep": "me"}
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_tag_limits_at_the_edge_are_accepted(s3: Any, bucket: str) -> None:
    tags = {f"k{i}": "v" for i in range(9)} | {"k" * 128: "v" * 256}
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(tags))
    assert tags_of(s3, bucket, "k") == tags


def test_duplicate_keys_are_refused(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(
            Bucket=bucket,
            Key="k",
            Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]},
        )
    assert error_of(exc) == (400, "InvalidTag")


def test_tagging_header_on_put_copy_and_multipart(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1&b=two%20words")
    assert tags_of(s3, bucket, "src") == {"a": "1", "b": "two words"}
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "src"})
    assert tags_of(s3, bucket, "copied") == {"a": "1", "b": "two words"}
    s3.copy_object(
        Bucket=bucket,
        Key="copied-ignoring-header",
        CopySource={"Bucket": bucket, "Key": "src"},
        Tagging="c=3",
        TaggingDirective="COPY",
    )
    assert tags_of(s3, bucket, "copied-ignoring-header") == {"a": "1", "b": "two words"}
    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource={"Bucket": bucket, "Key": "src"},
        Tagging="c=3",
        TaggingDirective="REPLACE",
    )
    assert tags_of(s3, bucket, "replaced") == {"c": "3"}
    s3.copy_object(
        Bucket=bucket, Key="cleared", CopySource={"Bucket": bucket, "Key": "src"}, TaggingDirective="REPLACE"
    )
    assert tags_of(s3, bucket, "cleared") == {}

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="mp=yes")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    assert tags_of(s3, bucket, "mp") == {"mp": "yes"}
    assert (
        s3.head_object(Bucket=bucket, Key="mp")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"]
        == "1"
    )


def test_aws_cli_copy_of_a_9_mib_object_and_its_tags(
    cluster: RunningCluster, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """AWS CLI v2 runs `aws s3 cp s3://b/big s3://b/copy` of >= 8 MiB as GetObjectTagging on the
    source (its default --copy-props), a multipart copy, then PutObjectTagging on the copy; with
    tagging answering 501 the copy failed. The CLI installed here (v1) copies without reading tags,
    so the tag calls are made with `aws s3api` around the copy."""
    data = os.urandom(9 * MiB)
    s3.put_object(Bucket=bucket, Key="big", Body=data, Tagging="team=storage&tier=hot")
    got = s3api(cluster, "get-object-tagging", "--bucket", bucket, "--key", "big")
    assert got["TagSet"] == [{"Key": "team", "Value": "storage"}, {"Key": "tier", "Value": "hot"}]
    aws(cluster, "s3", "cp", f"s3://{bucket}/big", f"s3://{bucket}/copy")
    assert s3.head_object(Bucket=bucket, Key="copy", PartNumber=1)["PartsCount"] == 2  # a multipart copy
    tagging = json.dumps({"TagSet": got["TagSet"]})
    s3api(cluster, "put-object-tagging", "--bucket", bucket, "--key", "copy", "--tagging", tagging)
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == data
    assert tags_of(s3, bucket, "copy") == {"team": "storage", "tier": "hot"}
