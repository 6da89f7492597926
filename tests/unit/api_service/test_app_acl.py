"""ACLs through boto3 on buckets whose Object Ownership enables them (ObjectWriter,
BucketOwnerPreferred): canned ACLs and grant headers on every write, Get/Put Bucket and Object
ACLs, the ownership controls, and grants taking effect through the one authorization step."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from cairn.api_service.acl import ALL_USERS, AUTHENTICATED_USERS

from .harness import Endpoint, code_of


def code(call: Any) -> str:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "OK"


@pytest.fixture(scope="module")
def anon(s3e: Endpoint) -> Any:
    return s3e.client(signature_version=UNSIGNED)


@pytest.fixture(scope="module")
def alice(s3e: Endpoint) -> tuple[Any, str]:
    """Another user (no policies) and her canonical id."""
    client = s3e.client(*s3e.new_user("alice"))
    return client, client.list_buckets()["Owner"]["ID"]


def new_bucket(s3: Any, ownership: str = "ObjectWriter", **kw: Any) -> str:
    name = f"acl-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectOwnership=ownership, **kw)
    return name


def grants(doc: dict[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for g in doc["Grants"]:
        grantee = g["Grantee"]
        out.add((grantee.get("URI") or grantee.get("ID") or "", g["Permission"]))
    return out


def test_ownership_controls(s3: Any) -> None:
    enforced = f"acl-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=enforced)
    rule = s3.get_bucket_ownership_controls(Bucket=enforced)["OwnershipControls"]["Rules"]
    assert rule == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    s3.put_bucket_ownership_controls(
        Bucket=enforced, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}
    )
    rule = s3.get_bucket_ownership_controls(Bucket=enforced)["OwnershipControls"]["Rules"]
    assert rule == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    s3.put_bucket_acl(Bucket=enforced, ACL="public-read")
    with pytest.raises(ClientError) as exc:  # a public bucket ACL must go first
        s3.put_bucket_ownership_controls(
            Bucket=enforced, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        )
    assert code_of(exc) == ("InvalidBucketAclWithObjectOwnership", 400)
    s3.put_bucket_acl(Bucket=enforced, ACL="private")
    s3.put_bucket_ownership_controls(
        Bucket=enforced, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    assert (
        code(lambda: s3.put_bucket_acl(Bucket=enforced, ACL="public-read")) == "AccessControlListNotSupported"
    )
    s3.delete_bucket_ownership_controls(Bucket=enforced)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_ownership_controls(Bucket=enforced)
    assert code_of(exc) == ("OwnershipControlsNotFoundError", 404)
    s3.put_bucket_acl(Bucket=enforced, ACL="public-read")  # without controls: ObjectWriter, ACLs on
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="acl-bad-ownership", ObjectOwnership="Nobody")
    assert code_of(exc) == ("InvalidArgument", 400)


def test_a_public_read_object_is_readable_anonymously_and_a_private_one_is_not(s3: Any, anon: Any) -> None:
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="public", Body=b"hello", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    s3.put_object(Bucket=bucket, Key="explicit", Body=b"secret", ACL="private")
    assert anon.get_object(Bucket=bucket, Key="public")["Body"].read() == b"hello"
    assert anon.head_object(Bucket=bucket, Key="public")["ContentLength"] == 5
    assert code(lambda: anon.get_object(Bucket=bucket, Key="private")) == "AccessDenied"
    assert code(lambda: anon.get_object(Bucket=bucket, Key="explicit")) == "AccessDenied"
    assert code(lambda: anon.list_objects_v2(Bucket=bucket)) == "AccessDenied"  # the bucket is private
    assert code(lambda: anon.put_object(Bucket=bucket, Key="x", Body=b"x")) == "AccessDenied"
    assert code(lambda: anon.get_object_acl(Bucket=bucket, Key="public")) == "AccessDenied"

    acl = s3.get_object_acl(Bucket=bucket, Key="public")
    owner = s3.list_buckets()["Owner"]["ID"]
    assert acl["Owner"]["ID"] == owner
    assert grants(acl) == {(owner, "FULL_CONTROL"), (ALL_USERS, "READ")}
    s3.put_object_acl(Bucket=bucket, Key="public", ACL="private")
    assert code(lambda: anon.get_object(Bucket=bucket, Key="public")) == "AccessDenied"
    s3.put_object_acl(Bucket=bucket, Key="private", GrantRead=f'uri="{ALL_USERS}"')
    assert anon.get_object(Bucket=bucket, Key="private")["Body"].read() == b"secret"
    assert grants(s3.get_object_acl(Bucket=bucket, Key="private")) == {(ALL_USERS, "READ")}


def test_a_public_bucket_acl_opens_listing_and_writing(s3: Any, anon: Any) -> None:
    bucket = new_bucket(s3, ACL="public-read-write")
    owner = s3.list_buckets()["Owner"]["ID"]
    assert grants(s3.get_bucket_acl(Bucket=bucket)) == {
        (owner, "FULL_CONTROL"),
        (ALL_USERS, "READ"),
        (ALL_USERS, "WRITE"),
    }
    anon.put_object(Bucket=bucket, Key="dropped", Body=b"anon")
    assert [o["Key"] for o in anon.list_objects_v2(Bucket=bucket)["Contents"]] == ["dropped"]
    assert code(lambda: anon.get_object(Bucket=bucket, Key="dropped")) == "AccessDenied"  # object ACL
    assert s3.get_object(Bucket=bucket, Key="dropped")["Body"].read() == b"anon"
    anon.delete_object(Bucket=bucket, Key="dropped")
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert code(lambda: anon.list_objects_v2(Bucket=bucket)) == "AccessDenied"


def test_acl_xml_body_and_explicit_deny(s3: Any, anon: Any, alice: tuple[Any, str]) -> None:
    client, alice_id = alice
    bucket = new_bucket(s3)
    owner = s3.list_buckets()["Owner"]["ID"]
    policy = {
        "Owner": {"ID": owner},
        "Grants": [
            {"Grantee": {"Type": "CanonicalUser", "ID": owner}, "Permission": "FULL_CONTROL"},
            {"Grantee": {"Type": "CanonicalUser", "ID": alice_id}, "Permission": "WRITE"},
            {"Grantee": {"Type": "Group", "URI": AUTHENTICATED_USERS}, "Permission": "READ"},
        ],
    }
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=policy)
    assert grants(s3.get_bucket_acl(Bucket=bucket)) == {
        (owner, "FULL_CONTROL"),
        (alice_id, "WRITE"),
        (AUTHENTICATED_USERS, "READ"),
    }
    client.put_object(Bucket=bucket, Key="by-alice", Body=b"a")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    assert code(lambda: anon.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    # ObjectWriter: alice owns what she wrote, and its ACL is hers to read
    acl = client.get_object_acl(Bucket=bucket, Key="by-alice")
    assert acl["Owner"]["ID"] == alice_id and grants(acl) == {(alice_id, "FULL_CONTROL")}
    assert client.get_object(Bucket=bucket, Key="by-alice")["Body"].read() == b"a"

    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]}))
    assert code(lambda: client.put_object(Bucket=bucket, Key="again", Body=b"a")) == "AccessDenied"
    s3.delete_bucket_policy(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="again", Body=b"a")


def test_bucket_owner_preferred_takes_objects_written_with_bucket_owner_full_control(
    s3: Any, alice: tuple[Any, str]
) -> None:
    client, alice_id = alice
    bucket = new_bucket(s3, "BucketOwnerPreferred")
    s3.put_bucket_acl(Bucket=bucket, GrantWrite=f'id="{alice_id}"')
    owner = s3.list_buckets()["Owner"]["ID"]
    client.put_object(Bucket=bucket, Key="handed-over", Body=b"x", ACL="bucket-owner-full-control")
    client.put_object(Bucket=bucket, Key="kept", Body=b"x")
    assert s3.get_object_acl(Bucket=bucket, Key="handed-over")["Owner"]["ID"] == owner
    assert s3.get_object_acl(Bucket=bucket, Key="kept")["Owner"]["ID"] == alice_id
    listing = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]
    assert {o["Key"]: o["Owner"]["ID"] for o in listing} == {"handed-over": owner, "kept": alice_id}


def test_acls_on_copy_multipart_and_versions(s3: Any, anon: Any, alice: tuple[Any, str]) -> None:
    client, alice_id = alice
    bucket = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="src", Body=b"source", ACL="public-read")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/src")
    assert code(lambda: anon.get_object(Bucket=bucket, Key="copy")) == "AccessDenied"  # ACLs are not copied
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/src", ACL="public-read")
    assert anon.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"source"

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", GrantRead=f'id="{alice_id}"')
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"part")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert client.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"part"
    assert code(lambda: anon.get_object(Bucket=bucket, Key="mp")) == "AccessDenied"

    first = s3.put_object(Bucket=bucket, Key="v", Body=b"one", ACL="public-read")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="v", Body=b"two")["VersionId"]
    assert code(lambda: anon.get_object(Bucket=bucket, Key="v")) == "AccessDenied"
    # each version has its own ACL: READ on the first covers GetObjectVersion of it
    assert anon.get_object(Bucket=bucket, Key="v", VersionId=first)["Body"].read() == b"one"
    s3.put_object_acl(Bucket=bucket, Key="v", VersionId=second, ACL="public-read")
    assert anon.get_object(Bucket=bucket, Key="v")["Body"].read() == b"two"
    assert grants(s3.get_object_acl(Bucket=bucket, Key="v", VersionId=first)) == grants(
        s3.get_object_acl(Bucket=bucket, Key="v", VersionId=second)
    )


def test_enforcing_bucket_ownership_turns_object_acls_off(s3: Any, anon: Any) -> None:
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="was-public", Body=b"x", ACL="public-read")
    assert anon.get_object(Bucket=bucket, Key="was-public")["Body"].read() == b"x"
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    assert code(lambda: anon.get_object(Bucket=bucket, Key="was-public")) == "AccessDenied"
    owner = s3.list_buckets()["Owner"]["ID"]
    assert grants(s3.get_object_acl(Bucket=bucket, Key="was-public")) == {(owner, "FULL_CONTROL")}
    # tools that always send these keep working
    s3.put_object(Bucket=bucket, Key="p", Body=b"x", ACL="private")
    s3.put_object(Bucket=bucket, Key="b", Body=b"x", ACL="bucket-owner-full-control")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"ACL": "no-such-acl"}, "InvalidArgument"),
        ({"ACL": "public-read", "GrantRead": "id=x"}, "InvalidRequest"),
        ({"GrantRead": 'emailAddress="a@example.com"'}, "UnresolvableGrantByEmailAddress"),
    ],
)
def test_bad_acl_headers(s3: Any, params: dict[str, str], expected: str) -> None:
    bucket = new_bucket(s3)
    assert code(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", **params)) == expected
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
