"""Bucket lifecycle end to end: Put/Get/DeleteBucketLifecycleConfiguration through boto3 and the
aws CLI, validation as S3 answers it, the `x-amz-expiration` header, and the rules run by the
background service of a real cluster whose lifecycle day is 2 seconds."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_e2e_aws_cli import aws, s3api
from tests.support.cluster import RunningCluster, start_cluster

RULES: list[dict[str, Any]] = [
    {
        "ID": "logs",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 30},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    },
    {
        "ID": "tmp-big",
        "Filter": {
            "And": {
                "Prefix": "tmp/",
                "Tags": [{"Key": "class", "Value": "scratch"}],
                "ObjectSizeGreaterThan": 1024,
                "ObjectSizeLessThan": 1048576,
            }
        },
        "Status": "Disabled",
        "Expiration": {"Date": datetime(2031, 1, 1, tzinfo=UTC)},
    },
    {
        "ID": "versions",
        "Filter": {},
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": 10, "NewerNoncurrentVersions": 3},
    },
    {
        "ID": "markers",
        "Filter": {"Tag": {"Key": "k", "Value": "v"}},
        "Status": "Enabled",
        "Expiration": {"Days": 1},
    },
    {
        "ID": "dm",
        "Filter": {"ObjectSizeGreaterThan": 0},
        "Status": "Enabled",
        "Expiration": {"ExpiredObjectDeleteMarker": True},
    },
]


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


def new_bucket(s3: Any, versioned: bool = False) -> str:
    name = f"e2e-lc-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def bucket(s3: Any) -> str:
    return new_bucket(s3)


def test_put_get_delete_lifecycle(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_of(missing)[:2] == (404, "NoSuchLifecycleConfiguration")
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": RULES})
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == RULES
    # a rule without an ID gets one, kept from then on
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [{"Prefix": "", "Status": "Enabled", "Expiration": {"Days": 1}}]},
    )
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["ID"] and rule["Prefix"] == "" and rule["Expiration"] == {"Days": 1}
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["ID"] == rule["ID"]
    assert s3.delete_bucket_lifecycle(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as gone:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_of(gone)[:2] == (404, "NoSuchLifecycleConfiguration")


def _rule(**fields: Any) -> dict[str, Any]:
    return {"ID": "r", "Filter": {"Prefix": ""}, "Status": "Enabled", **fields}


@pytest.mark.parametrize(
    ("rules", "code", "message"),
    [
        (
            [_rule(Expiration={"Days": 0})],
            "InvalidArgument",
            "'Days' for Expiration action must be a positive integer",
        ),
        (
            [_rule(Expiration={"Date": datetime(2030, 1, 1, 12, tzinfo=UTC)})],
            "InvalidArgument",
            "midnight GMT",
        ),
        ([_rule(Expiration={"Days": 1, "ExpiredObjectDeleteMarker": True})], "MalformedXML", ""),
        ([_rule(Status="On", Expiration={"Days": 1})], "MalformedXML", ""),
        ([_rule()], "InvalidRequest", "At least one action needs to be specified in a rule"),
        (
            [_rule(Expiration={"Days": 1}), _rule(Expiration={"Days": 2})],
            "InvalidArgument",
            "Rule ID must be unique",
        ),
        ([_rule(ID="x" * 256, Expiration={"Days": 1})], "InvalidArgument", "ID length should not exceed"),
        (
            [
                _rule(
                    Filter={"Tag": {"Key": "a", "Value": "b"}}, Expiration={"ExpiredObjectDeleteMarker": True}
                )
            ],
            "InvalidRequest",
            "ExpiredObjectDeleteMarker cannot be specified with object tags",
        ),
        (
            [
                _rule(
                    Filter={"Tag": {"Key": "a", "Value": "b"}},
                    AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1},
                )
            ],
            "InvalidRequest",
            "AbortIncompleteMultipartUpload cannot be specified with Tags",
        ),
        (
            [_rule(NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 101})],
            "InvalidArgument",
            "NewerNoncurrentVersions",
        ),
        (
            [_rule(Filter={"Prefix": "a", "ObjectSizeGreaterThan": 1}, Expiration={"Days": 1})],
            "MalformedXML",
            "",
        ),
        ([_rule(Prefix="a", Expiration={"Days": 1})], "MalformedXML", ""),
        ([{"ID": "r", "Status": "Enabled", "Expiration": {"Days": 1}}], "MalformedXML", ""),  # no filter
        ([_rule(ID=f"r{i}", Expiration={"Days": 1}) for i in range(1001)], "MalformedXML", ""),
        (
            [_rule(Expiration={"Days": 1, "Date": datetime(2030, 1, 1, tzinfo=UTC)})],
            "MalformedXML",
            "",
        ),
        (
            [_rule(NoncurrentVersionExpiration={"NoncurrentDays": 0})],
            "InvalidArgument",
            "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
        ),
        (
            [_rule(AbortIncompleteMultipartUpload={"DaysAfterInitiation": 0})],
            "InvalidArgument",
            "'DaysAfterInitiation' must be a positive integer",
        ),
        (
            [
                _rule(
                    Filter={"And": {"Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}},
                    Expiration={"Days": 1},
                )
            ],
            "InvalidRequest",
            "Duplicate Tag Keys are not allowed.",
        ),
    ],
)
def test_invalid_lifecycle_configurations(
    cluster: RunningCluster, bucket: str, rules: list[dict[str, Any]], code: str, message: str
) -> None:
    unchecked = cluster.s3_client(parameter_validation=False)  # sends what the SDK would refuse
    with pytest.raises(ClientError) as exc:
        unchecked.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    status, got_code, got_message = error_of(exc)
    assert (status, got_code) == (400, code) and message in got_message
    with pytest.raises(ClientError):
        unchecked.get_bucket_lifecycle_configuration(Bucket=bucket)  # nothing was stored


def test_transitions_are_not_implemented(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={"Rules": [_rule(Transitions=[{"Days": 30, "StorageClass": "GLACIER"}])]},
        )
    assert error_of(exc)[:2] == (501, "NotImplemented")


def test_aws_cli_round_trip(cluster: RunningCluster, bucket: str) -> None:
    import json

    config = {"Rules": [_rule(ID="cli", Expiration={"Days": 3})]}
    s3api(
        cluster,
        "put-bucket-lifecycle-configuration",
        "--bucket",
        bucket,
        "--lifecycle-configuration",
        json.dumps(config),
    )
    assert (
        s3api(cluster, "get-bucket-lifecycle-configuration", "--bucket", bucket)["Rules"] == config["Rules"]
    )
    s3api(cluster, "delete-bucket-lifecycle", "--bucket", bucket)
    result = aws(cluster, "s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket, check=False)
    assert "NoSuchLifecycleConfiguration" in result.stderr


def _midnight_after(ms: float, days: int) -> datetime:
    day = 86_400_000
    return datetime.fromtimestamp(-(-(int(ms) + days * day) // day) * day / 1000, UTC)


def test_x_amz_expiration_header(s3: Any, bucket: str) -> None:
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                _rule(ID="soon", Filter={"Prefix": "logs/"}, Expiration={"Days": 3}),
                _rule(
                    ID="soon-abort",
                    Filter={"Prefix": "logs/"},
                    AbortIncompleteMultipartUpload={"DaysAfterInitiation": 2},
                ),
                _rule(ID="later", Filter={"Prefix": ""}, Expiration={"Days": 10}),
                _rule(ID="off", Filter={"Prefix": ""}, Status="Disabled", Expiration={"Days": 1}),
                _rule(ID="nc", Filter={"Prefix": ""}, NoncurrentVersionExpiration={"NoncurrentDays": 1}),
            ]
        },
    )
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="logs/a")
    expected = _midnight_after(head["LastModified"].timestamp() * 1000, 3)
    header = f'expiry-date="{expected.strftime("%a, %d %b %Y %H:%M:%S GMT")}", rule-id="soon"'
    assert put["Expiration"] == header and head["Expiration"] == header
    assert s3.get_object(Bucket=bucket, Key="logs/a")["Expiration"] == header
    other = s3.put_object(Bucket=bucket, Key="data/b", Body=b"x")
    assert other["Expiration"].endswith('rule-id="later"')
    # multipart: the abort date on creation, the expiration on completion
    created = s3.create_multipart_upload(Bucket=bucket, Key="logs/mp")
    assert created["AbortRuleId"] == "soon-abort"
    assert created["AbortDate"] > datetime.now(UTC) and created["AbortDate"].hour == 0
    part = s3.upload_part(Bucket=bucket, Key="logs/mp", UploadId=created["UploadId"], PartNumber=1, Body=b"p")
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="logs/mp",
        UploadId=created["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert done["Expiration"].endswith('rule-id="soon"')
    assert "AbortRuleId" not in s3.create_multipart_upload(Bucket=bucket, Key="data/mp")
    s3.delete_bucket_lifecycle(Bucket=bucket)
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="logs/a")


# --- the rules run by the background service -----------------------------------------------
DAY_S = 2.0


@pytest.fixture(scope="module")
def fast_days(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    env = {"CAIRN_GC_LIFECYCLE_DAY_S": str(DAY_S), "CAIRN_GC_INTERVAL_S": "1"}
    running = start_cluster(tmp_path_factory.mktemp("cairn-lifecycle"), env=env)
    try:
        yield running
    finally:
        running.stop()


def wait_until(check: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def listed(s3: Any, bucket: str) -> list[tuple[str, bool, bool]]:
    page = s3.list_object_versions(Bucket=bucket)
    out = [(v["Key"], v["IsLatest"], False) for v in page.get("Versions", [])]
    out += [(m["Key"], m["IsLatest"], True) for m in page.get("DeleteMarkers", [])]
    return sorted(out)


@pytest.mark.slow
def test_the_background_service_runs_the_rules(fast_days: RunningCluster) -> None:
    s3 = fast_days.s3_client()
    plain = new_bucket(s3)
    s3.put_bucket_lifecycle_configuration(
        Bucket=plain,
        LifecycleConfiguration={
            "Rules": [
                _rule(ID="logs", Filter={"Prefix": "logs/"}, Expiration={"Days": 1}),
                _rule(
                    ID="scratch",
                    Filter={"And": {"Prefix": "", "Tags": [{"Key": "class", "Value": "scratch"}]}},
                    Expiration={"Days": 1},
                ),
                _rule(
                    ID="uploads",
                    Filter={"Prefix": "up/"},
                    AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1},
                ),
            ]
        },
    )
    s3.put_object(Bucket=plain, Key="logs/1", Body=b"a")
    s3.put_object(Bucket=plain, Key="keep/1", Body=b"b")
    s3.put_object(Bucket=plain, Key="scratch/1", Body=b"c", Tagging="class=scratch")
    s3.put_object(Bucket=plain, Key="scratch/2", Body=b"d", Tagging="class=gold")
    upload = s3.create_multipart_upload(Bucket=plain, Key="up/big")["UploadId"]
    s3.create_multipart_upload(Bucket=plain, Key="other/big")
    versioned = new_bucket(s3, versioned=True)
    for body in (b"v1", b"v2", b"v3"):
        s3.put_object(Bucket=versioned, Key="k", Body=body)
    s3.put_object(Bucket=versioned, Key="lonely", Body=b"x")
    s3.delete_object(Bucket=versioned, Key="lonely")
    s3.delete_object(
        Bucket=versioned,
        Key="lonely",
        VersionId=s3.list_object_versions(Bucket=versioned, Prefix="lonely")["Versions"][0]["VersionId"],
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=versioned,
        LifecycleConfiguration={
            "Rules": [
                _rule(
                    ID="nc", NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}
                ),
                _rule(ID="dm", Expiration={"ExpiredObjectDeleteMarker": True}),
            ]
        },
    )
    t0 = time.monotonic()
    wait_until(lambda: [k for k, _, _ in listed(s3, plain)] == ["keep/1", "scratch/2"])
    wait_until(
        lambda: (
            [u["Key"] for u in s3.list_multipart_uploads(Bucket=plain).get("Uploads", [])] == ["other/big"]
        )
    )
    wait_until(lambda: listed(s3, versioned) == [("k", False, False), ("k", True, False)])
    elapsed = time.monotonic() - t0
    assert elapsed < 60, elapsed
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"v3"
    with pytest.raises(ClientError):
        s3.list_parts(Bucket=plain, Key="up/big", UploadId=upload)
