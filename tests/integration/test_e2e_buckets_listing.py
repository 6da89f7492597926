"""Buckets and listings end to end through boto3.

Bucket life cycle (create, head, list, location, delete and its BucketNotEmpty rule), bucket naming,
ListObjectsV2 / ListObjects (V1) with prefixes, delimiters, raw byte order and pagination, a
paginator over 2500 keys, and DeleteObjects (1000 keys, quiet mode, missing keys).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.cluster import RunningCluster


def new_bucket(s3: Any, prefix: str = "e2e-lst") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def status_code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def put_many(s3: Any, bucket: str, keys: list[str], workers: int = 16) -> None:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b""), keys))


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as err:
        if err.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise
    return True


# --- bucket life cycle ---------------------------------------------------------------------------


def test_bucket_life_cycle(s3: Any) -> None:
    name = f"e2e-life-{uuid.uuid4().hex[:12]}"
    created = s3.create_bucket(Bucket=name)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert created["Location"] == f"/{name}"
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200

    listed = {b["Name"]: b for b in s3.list_buckets()["Buckets"]}
    assert name in listed
    assert listed[name]["CreationDate"] is not None
    assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") is None  # us-east-1 is null

    # Re-creating your own bucket in us-east-1 answers 200 (legacy AWS behaviour).
    again = s3.create_bucket(Bucket=name)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200

    deleted = s3.delete_bucket(Bucket=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not bucket_exists(s3, name)
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert status_code(exc) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=name)
    assert status_code(exc) == (404, "NoSuchBucket")


def test_list_buckets_is_sorted_by_name(s3: Any) -> None:
    names = [new_bucket(s3, prefix) for prefix in ("e2e-zz", "e2e-aa", "e2e-mm")]
    listed = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert listed == sorted(listed)
    assert set(names) <= set(listed)


def test_location_constraint_of_an_unknown_region_is_rejected(s3: Any) -> None:
    name = f"e2e-loc-{uuid.uuid4().hex[:12]}"
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "mars-north-7"})
    assert status_code(exc) == (400, "InvalidLocationConstraint")
    assert not bucket_exists(s3, name)


def test_location_constraint_of_another_region_is_rejected(s3: Any) -> None:
    name = f"e2e-loc-{uuid.uuid4().hex[:12]}"
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    status, code = status_code(exc)
    # AWS answers IllegalLocationConstraintException on a regional endpoint; either way it is a 400
    # and no bucket appears in a region this cluster does not serve.
    assert status == 400
    assert code in ("IllegalLocationConstraintException", "InvalidLocationConstraint")
    assert not bucket_exists(s3, name)


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # too short
        "a" * 64,  # too long
        "UpperCase-bucket",
        "under_score-bucket",
        "-leading-dash",
        "trailing-dash-",
        "double..dots",
        "192.168.10.20",  # formatted as an IP address
        "xn--punycode-prefix",
        "bucket-s3alias",
    ],
)
def test_invalid_bucket_names(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert status_code(exc) == (400, "InvalidBucketName")
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_delete_bucket_with_objects_is_refused(s3: Any) -> None:
    name = new_bucket(s3)
    s3.put_object(Bucket=name, Key="keep", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert status_code(exc) == (409, "BucketNotEmpty")
    assert s3.get_object(Bucket=name, Key="keep")["Body"].read() == b"x"
    s3.delete_object(Bucket=name, Key="keep")
    s3.delete_bucket(Bucket=name)
    assert not bucket_exists(s3, name)


def test_delete_bucket_with_versions_or_delete_markers_is_refused(s3: Any) -> None:
    name = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=name, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=name, Key="k")["VersionId"]
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert status_code(exc) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k", VersionId=version)
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)  # only the delete marker is left
    assert status_code(exc) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k", VersionId=marker)
    s3.delete_bucket(Bucket=name)
    assert not bucket_exists(s3, name)


def test_delete_bucket_with_only_an_upload_in_progress_deletes_it(s3: Any) -> None:
    """As S3 does (issue 12): unfinished multipart uploads do not keep a bucket; DeleteBucket removes
    it and them, so "delete every object and version, then the bucket" always finishes."""
    name = new_bucket(s3)
    upload_id = s3.create_multipart_upload(Bucket=name, Key="pending")["UploadId"]
    s3.upload_part(Bucket=name, Key="pending", UploadId=upload_id, PartNumber=1, Body=b"part")
    s3.delete_bucket(Bucket=name)
    assert not bucket_exists(s3, name)
    s3.create_bucket(Bucket=name)
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=name, Key="pending", UploadId=upload_id)
    assert status_code(exc) == (404, "NoSuchUpload")


# --- ListObjectsV2 / ListObjects ------------------------------------------------------------------

LISTING_KEYS = [
    "Z-upper",
    "a/1",
    "a/2",
    "a/b/3",
    "a/b/4",
    "b/1",
    "c",
    "foo+1/x",
    "foo.bar",
    "foo/x",
    "foo/y",
    "foo",
    "z",
    "é-utf8",
    "日本/語",
]
BYTE_ORDER = sorted(LISTING_KEYS, key=lambda k: k.encode())


@pytest.fixture(scope="module")
def listing(cluster: RunningCluster) -> Iterator[tuple[Any, str]]:
    s3 = cluster.s3_client()
    name = new_bucket(s3)
    for i, key in enumerate(LISTING_KEYS):
        s3.put_object(Bucket=name, Key=key, Body=b"x" * i)
    yield s3, name


def keys_of(response: dict[str, Any]) -> list[str]:
    return [o["Key"] for o in response.get("Contents", [])]


def prefixes_of(response: dict[str, Any]) -> list[str]:
    return [p["Prefix"] for p in response.get("CommonPrefixes", [])]


def test_list_v2_all_in_raw_byte_order(listing: tuple[Any, str]) -> None:
    s3, name = listing
    response = s3.list_objects_v2(Bucket=name)
    assert keys_of(response) == BYTE_ORDER
    assert response["KeyCount"] == len(LISTING_KEYS)
    assert response["IsTruncated"] is False
    sizes = {o["Key"]: o["Size"] for o in response["Contents"]}
    assert sizes == {key: i for i, key in enumerate(LISTING_KEYS)}
    for obj in response["Contents"]:
        assert obj["ETag"].startswith('"') and obj["ETag"].endswith('"')
        assert obj["LastModified"] is not None
        assert obj["StorageClass"] == "STANDARD"
        assert "Owner" not in obj


def test_list_v2_prefix(listing: tuple[Any, str]) -> None:
    s3, name = listing
    assert keys_of(s3.list_objects_v2(Bucket=name, Prefix="a/")) == ["a/1", "a/2", "a/b/3", "a/b/4"]
    assert keys_of(s3.list_objects_v2(Bucket=name, Prefix="foo")) == [
        "foo",
        "foo+1/x",
        "foo.bar",
        "foo/x",
        "foo/y",
    ]
    empty = s3.list_objects_v2(Bucket=name, Prefix="nothing-here")
    assert keys_of(empty) == [] and empty["KeyCount"] == 0


def test_list_v2_delimiter_rolls_up_common_prefixes(listing: tuple[Any, str]) -> None:
    s3, name = listing
    root = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert keys_of(root) == ["Z-upper", "c", "foo", "foo.bar", "z", "é-utf8"]
    assert prefixes_of(root) == ["a/", "b/", "foo+1/", "foo/", "日本/"]
    assert root["KeyCount"] == 11

    foo = s3.list_objects_v2(Bucket=name, Delimiter="/", Prefix="foo")
    assert keys_of(foo) == ["foo", "foo.bar"]
    assert prefixes_of(foo) == ["foo+1/", "foo/"]  # raw byte order: '+' (0x2b) before '/' (0x2f)

    nested = s3.list_objects_v2(Bucket=name, Delimiter="/", Prefix="a/")
    assert keys_of(nested) == ["a/1", "a/2"]
    assert prefixes_of(nested) == ["a/b/"]

    other = s3.list_objects_v2(Bucket=name, Delimiter="b")
    assert prefixes_of(other) == ["a/b", "b", "foo.b"]


def collect_v2(s3: Any, name: str, **params: Any) -> tuple[list[str], list[str], int]:
    keys: list[str] = []
    prefixes: list[str] = []
    pages = 0
    token: str | None = None
    while True:
        extra = {"ContinuationToken": token} if token else {}
        response = s3.list_objects_v2(Bucket=name, **params, **extra)
        pages += 1
        assert response["KeyCount"] == len(response.get("Contents", [])) + len(
            response.get("CommonPrefixes", [])
        )
        assert response["KeyCount"] <= params.get("MaxKeys", 1000)
        keys += keys_of(response)
        prefixes += prefixes_of(response)
        if not response["IsTruncated"]:
            assert "NextContinuationToken" not in response
            return keys, prefixes, pages
        token = response["NextContinuationToken"]
        assert token
        assert pages < 100


def test_list_v2_max_keys_pagination(listing: tuple[Any, str]) -> None:
    s3, name = listing
    keys, _, pages = collect_v2(s3, name, MaxKeys=4)
    assert keys == BYTE_ORDER
    assert pages == 4

    keys, prefixes, _ = collect_v2(s3, name, MaxKeys=2, Delimiter="/")
    assert keys == ["Z-upper", "c", "foo", "foo.bar", "z", "é-utf8"]
    assert prefixes == ["a/", "b/", "foo+1/", "foo/", "日本/"]


def test_list_v2_start_after(listing: tuple[Any, str]) -> None:
    s3, name = listing
    assert (
        keys_of(s3.list_objects_v2(Bucket=name, StartAfter="foo/x"))
        == BYTE_ORDER[BYTE_ORDER.index("foo/x") + 1 :]
    )
    assert keys_of(s3.list_objects_v2(Bucket=name, StartAfter="b")) == BYTE_ORDER[BYTE_ORDER.index("b/1") :]
    assert keys_of(s3.list_objects_v2(Bucket=name, StartAfter="\U0010ffff")) == []


def test_list_v2_fetch_owner(listing: tuple[Any, str]) -> None:
    s3, name = listing
    response = s3.list_objects_v2(Bucket=name, FetchOwner=True, MaxKeys=3)
    assert len(response["Contents"]) == 3
    for obj in response["Contents"]:
        assert obj["Owner"]["ID"]


def test_list_v1_marker_and_next_marker(listing: tuple[Any, str]) -> None:
    s3, name = listing
    first = s3.list_objects(Bucket=name, MaxKeys=5)
    assert keys_of(first) == BYTE_ORDER[:5]
    assert first["IsTruncated"] is True
    second = s3.list_objects(Bucket=name, MaxKeys=5, Marker=BYTE_ORDER[4])
    assert keys_of(second) == BYTE_ORDER[5:10]
    for obj in first["Contents"]:
        assert obj["Owner"]["ID"]  # V1 always returns the owner

    # With a delimiter, NextMarker says where to continue (it may name a common prefix).
    keys: list[str] = []
    prefixes: list[str] = []
    marker = ""
    for _ in range(50):
        page = s3.list_objects(Bucket=name, MaxKeys=2, Delimiter="/", Marker=marker)
        keys += keys_of(page)
        prefixes += prefixes_of(page)
        if not page["IsTruncated"]:
            break
        marker = page["NextMarker"]
    assert keys == ["Z-upper", "c", "foo", "foo.bar", "z", "é-utf8"]
    assert prefixes == ["a/", "b/", "foo+1/", "foo/", "日本/"]


def test_list_v1_paginator(listing: tuple[Any, str]) -> None:
    s3, name = listing
    pages = s3.get_paginator("list_objects").paginate(Bucket=name, PaginationConfig={"PageSize": 3})
    assert [o["Key"] for o in pages.search("Contents")] == BYTE_ORDER


# --- many keys ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many(cluster: RunningCluster) -> tuple[Any, str, list[str]]:
    s3 = cluster.s3_client(max_pool_connections=16)
    name = new_bucket(s3)
    keys = [f"p{i % 7}/{i:05d}" for i in range(2500)]
    put_many(s3, name, keys)
    return s3, name, keys


def test_paginator_over_2500_keys(many: tuple[Any, str, list[str]]) -> None:
    s3, name, keys = many
    paginator = s3.get_paginator("list_objects_v2")
    listed = [o["Key"] for o in paginator.paginate(Bucket=name).search("Contents")]
    assert listed == sorted(keys)
    small_pages = paginator.paginate(Bucket=name, PaginationConfig={"PageSize": 333})
    listed = [o["Key"] for o in small_pages.search("Contents")]
    assert len(listed) == len(set(listed)) == 2500
    assert listed == sorted(keys)
    rolled = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert prefixes_of(rolled) == [f"p{i}/" for i in range(7)]
    assert keys_of(rolled) == []
    one_prefix = [o["Key"] for o in paginator.paginate(Bucket=name, Prefix="p3/").search("Contents")]
    assert one_prefix == sorted(k for k in keys if k.startswith("p3/"))


def test_delete_objects_1000_keys(cluster: RunningCluster) -> None:
    s3 = cluster.s3_client(max_pool_connections=16)
    name = new_bucket(s3)
    keys = [f"del/{i:04d}" for i in range(1005)]
    put_many(s3, name, keys)
    response = s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in keys[:1000]]})
    assert sorted(d["Key"] for d in response["Deleted"]) == keys[:1000]
    assert response.get("Errors", []) == []
    remaining = [
        o["Key"] for o in s3.get_paginator("list_objects_v2").paginate(Bucket=name).search("Contents")
    ]
    assert remaining == keys[1000:]


def test_delete_objects_more_than_1000_keys_is_malformed(s3: Any) -> None:
    name = new_bucket(s3)
    s3.put_object(Bucket=name, Key="k0", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    assert status_code(exc) == (400, "MalformedXML")
    assert keys_of(s3.list_objects_v2(Bucket=name)) == ["k0"]


def test_delete_objects_quiet_and_missing_keys(s3: Any) -> None:
    name = new_bucket(s3)
    for key in ("one", "two", "three"):
        s3.put_object(Bucket=name, Key=key, Body=b"x")
    loud = s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "one"}, {"Key": "missing-1"}]})
    assert sorted(d["Key"] for d in loud["Deleted"]) == ["missing-1", "one"]  # missing keys count as deleted
    assert loud.get("Errors", []) == []

    quiet = s3.delete_objects(
        Bucket=name, Delete={"Objects": [{"Key": "two"}, {"Key": "missing-2"}], "Quiet": True}
    )
    assert quiet.get("Deleted", []) == []
    assert quiet.get("Errors", []) == []
    assert keys_of(s3.list_objects_v2(Bucket=name)) == ["three"]


def test_delete_objects_in_a_missing_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket=f"nobucket-{uuid.uuid4().hex[:12]}", Delete={"Objects": [{"Key": "k"}]})
    assert status_code(exc) == (404, "NoSuchBucket")
