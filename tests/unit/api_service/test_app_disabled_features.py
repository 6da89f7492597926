"""ACLs (off on a bucket with the default Object Ownership, BucketOwnerEnforced) and Object Lock (off
on every Cairn bucket), answered through boto3 as S3 answers a bucket where they are off (2xx or
4xx, never the 501 that s3cmd retries for 46 s)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.raw_http import connect, read_reply

from .harness import Endpoint, code_of


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket="off")
    s3.put_object(Bucket="off", Key="k", Body=b"x")
    return "off"


def test_acls_read_as_the_owner_with_full_control(s3e: Endpoint, s3: Any, bucket: str) -> None:
    """S3 with ACLs disabled: "Requests to read ACLs ... always return a response that shows full
    control for the bucket owner"."""
    owner = s3.list_buckets()["Owner"]["ID"]
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert acl["Owner"]["ID"] == owner
        assert acl["Grants"] == [
            {
                "Grantee": {"ID": owner, "DisplayName": owner, "Type": "CanonicalUser"},
                "Permission": "FULL_CONTROL",
            }
        ]


def test_reading_the_acl_of_a_missing_object_is_no_such_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object_acl(Bucket=bucket, Key="absent")
    assert code_of(exc) == ("NoSuchKey", 404)


def test_other_users_cannot_read_an_acl(s3e: Endpoint, bucket: str) -> None:
    other = s3e.client(*s3e.new_user("acl-reader"))
    with pytest.raises(ClientError) as exc:
        other.get_bucket_acl(Bucket=bucket)
    assert code_of(exc) == ("AccessDenied", 403)


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("put_bucket_acl", {"ACL": "public-read"}),
        ("put_bucket_acl", {"ACL": "private"}),
        ("put_object_acl", {"Key": "k", "ACL": "public-read"}),
        ("put_object", {"Key": "public", "Body": b"x", "ACL": "public-read"}),
        ("put_object", {"Key": "public", "Body": b"x", "GrantRead": "id=someone-else"}),
        ("create_multipart_upload", {"Key": "public", "ACL": "public-read-write"}),
        ("copy_object", {"Key": "public", "CopySource": "off/k", "ACL": "authenticated-read"}),
    ],
)
def test_setting_an_acl_is_access_control_list_not_supported(
    s3: Any, bucket: str, operation: str, params: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as exc:
        getattr(s3, operation)(Bucket=bucket, **params)
    assert code_of(exc) == ("AccessControlListNotSupported", 400)
    assert exc.value.response["Error"]["Message"] == "The bucket does not allow ACLs"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="public")["KeyCount"] == 0


def test_object_lock_configuration_is_not_found(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert code_of(exc) == ("ObjectLockConfigurationNotFoundError", 404)


def test_enabling_object_lock(s3: Any) -> None:
    """S3 refuses it on a bucket without versioning (409) and turns it on where versioning is
    Enabled; Cairn has no Object Lock to turn on (501)."""
    s3.create_bucket(Bucket="lockable")
    config = {"ObjectLockEnabled": "Enabled"}
    with pytest.raises(ClientError) as exc:
        s3.put_object_lock_configuration(Bucket="lockable", ObjectLockConfiguration=config)
    assert code_of(exc) == ("InvalidBucketState", 409)
    s3.put_bucket_versioning(Bucket="lockable", VersioningConfiguration={"Status": "Enabled"})
    with pytest.raises(ClientError) as exc:
        s3.put_object_lock_configuration(Bucket="lockable", ObjectLockConfiguration=config)
    assert code_of(exc) == ("NotImplemented", 501)


RETAIN_UNTIL = dt.datetime(2035, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("get_object_retention", {}),
        ("put_object_retention", {"Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": RETAIN_UNTIL}}),
        ("get_object_legal_hold", {}),
        ("put_object_legal_hold", {"LegalHold": {"Status": "ON"}}),
    ],
)
def test_object_retention_and_legal_hold_need_object_lock(
    s3: Any, bucket: str, operation: str, params: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as exc:
        getattr(s3, operation)(Bucket=bucket, Key="k", **params)
    assert code_of(exc) == ("InvalidRequest", 400)
    assert exc.value.response["Error"]["Message"] == "Bucket is missing Object Lock Configuration"


@pytest.mark.parametrize(
    "params",
    [
        {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": RETAIN_UNTIL},
        {"ObjectLockLegalHoldStatus": "ON"},
    ],
)
def test_uploads_asking_for_object_lock_are_invalid_requests(
    s3: Any, bucket: str, params: dict[str, Any]
) -> None:
    for operation, extra in (("put_object", {"Body": b"x"}), ("create_multipart_upload", {})):
        with pytest.raises(ClientError) as exc:
            getattr(s3, operation)(Bucket=bucket, Key="locked", **extra, **params)
        assert code_of(exc) == ("InvalidRequest", 400)
        assert exc.value.response["Error"]["Message"] == "Bucket is missing ObjectLockConfiguration"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="locked")["KeyCount"] == 0


def test_a_plain_post_on_an_object_is_method_not_allowed(s3e: Endpoint, bucket: str) -> None:
    """S3 answers 405 naming the method and resource type."""
    path = f"/{bucket}/k"
    with connect(s3e.url) as sock:
        sock.sendall(s3e.signed_head("POST", path, {"Content-Length": "0"}))
        reply = read_reply(sock)
        assert reply.status == 405
        error = reply.error()
        assert error.findtext("Code") == "MethodNotAllowed"
        assert (error.findtext("Method"), error.findtext("ResourceType")) == ("POST", "OBJECT")
    with connect(s3e.url) as sock:  # unauthenticated, the routing error comes after authentication
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        reply = read_reply(sock)
        assert (reply.status, reply.error().findtext("Code")) == (403, "AccessDenied")
