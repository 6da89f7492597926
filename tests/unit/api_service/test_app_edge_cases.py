"""Edge cases of issue 12 where Cairn's answer differed from S3's: ListBuckets pagination, an empty
ListObjectsV2 continuation-token, the stored Content-Encoding of an aws-chunked upload."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .harness import Endpoint, code_of


def test_list_buckets_pages_with_max_buckets_and_a_continuation_token(s3e: Endpoint) -> None:
    s3 = s3e.client(*s3e.new_user("pager"))
    names = [f"page-{i:02d}" for i in range(5)]
    for name in reversed(names):
        s3.create_bucket(Bucket=name)
    s3.create_bucket(Bucket="other-bucket")
    first = s3.list_buckets(MaxBuckets=2, Prefix="page-")
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    assert first["Prefix"] == "page-"
    second = s3.list_buckets(MaxBuckets=2, Prefix="page-", ContinuationToken=first["ContinuationToken"])
    third = s3.list_buckets(MaxBuckets=2, Prefix="page-", ContinuationToken=second["ContinuationToken"])
    assert [b["Name"] for b in second["Buckets"] + third["Buckets"]] == names[2:]
    assert "ContinuationToken" not in third
    everything = s3.list_buckets()
    assert [b["Name"] for b in everything["Buckets"]] == ["other-bucket", *names]
    assert "ContinuationToken" not in everything
    assert [b["Name"] for b in s3.list_buckets(BucketRegion="us-east-1", Prefix="o")["Buckets"]] == [
        "other-bucket"
    ]
    assert s3.list_buckets(BucketRegion="eu-west-1")["Buckets"] == []
    for bad in ({"MaxBuckets": 10001}, {"ContinuationToken": "%%%"}):  # boto3 itself refuses 0
        with pytest.raises(ClientError) as exc:
            s3.list_buckets(**bad)
        assert code_of(exc) == ("InvalidArgument", 400)


def test_an_empty_continuation_token_is_no_token(s3: Any) -> None:
    s3.create_bucket(Bucket="empty-token")
    s3.put_object(Bucket="empty-token", Key="a", Body=b"")
    listing = s3.list_objects_v2(Bucket="empty-token", ContinuationToken="")
    assert [o["Key"] for o in listing["Contents"]] == ["a"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("aws-chunked, gzip", "gzip"),
        ("aws-chunked,gzip", "gzip"),
        ("gzip, aws-chunked, br", "gzip, br"),
        ("gzip,  br", "gzip,  br"),
        ("aws-chunked", None),
    ],
)
def test_the_aws_chunked_coding_is_dropped_and_the_rest_kept_verbatim(
    s3: Any, sent: str, stored: str | None
) -> None:
    s3.create_bucket(Bucket="encodings")
    s3.put_object(Bucket="encodings", Key="k", Body=b"x", ContentEncoding=sent)
    assert s3.head_object(Bucket="encodings", Key="k").get("ContentEncoding") == stored
