"""Bucket and user policies through boto3: the policy APIs, anonymous access, and a table of every
operation x principal x policy outcome (each request authorized through access.py): listing,
objects and their versions, copy sources, multipart, tagging, ACL reads and writes."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from .harness import Endpoint, code_of

ACCOUNT = "000000000000"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any, action: Any, resource: Any, **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": resource, **more}


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


@pytest.fixture(scope="module")
def users(s3e: Endpoint) -> dict[str, Any]:
    alice = s3e.client(*s3e.new_user("alice"))
    bob = s3e.client(*s3e.new_user("bob"))
    return {"alice": alice, "bob": bob, "anon": s3e.client(signature_version=UNSIGNED), "root": s3e.client()}


def denied(call: Callable[[], Any]) -> bool:
    """True on 403 AccessDenied, False on success; any other error fails the test."""
    try:
        call()
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("AccessDenied", "403"):
            return True
        raise
    return False


def test_policy_round_trip_status_and_validation(users: dict[str, Any]) -> None:
    alice = users["alice"]
    alice.create_bucket(Bucket="pol-api")
    with pytest.raises(ClientError) as exc:
        alice.get_bucket_policy(Bucket="pol-api")
    assert code_of(exc) == ("NoSuchBucketPolicy", 404)
    with pytest.raises(ClientError) as exc:
        alice.get_bucket_policy_status(Bucket="pol-api")
    assert code_of(exc) == ("NoSuchBucketPolicy", 404)

    text = policy(allow("*", "s3:GetObject", "arn:aws:s3:::pol-api/*"))
    alice.put_bucket_policy(Bucket="pol-api", Policy=text)
    assert alice.get_bucket_policy(Bucket="pol-api")["Policy"] == text  # verbatim
    assert alice.get_bucket_policy_status(Bucket="pol-api")["PolicyStatus"]["IsPublic"] is True
    private = policy(allow({"AWS": user_arn("bob")}, "s3:GetObject", "arn:aws:s3:::pol-api/*"))
    alice.put_bucket_policy(Bucket="pol-api", Policy=private)
    assert alice.get_bucket_policy_status(Bucket="pol-api")["PolicyStatus"]["IsPublic"] is False

    for bad in (
        "{not json",
        policy(allow("*", "s3:Teleport", "arn:aws:s3:::pol-api/*")),
        policy(allow("*", "s3:GetObject", "arn:aws:s3:::someone-else/*")),
        policy(allow({"AWS": user_arn("nobody")}, "s3:GetObject", "arn:aws:s3:::pol-api/*")),
        policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pol-api/*"}),
        json.dumps({"Statement": [allow("*", "s3:GetObject", "arn:aws:s3:::pol-api/*")], "x": " " * 21000}),
    ):
        with pytest.raises(ClientError) as exc:
            alice.put_bucket_policy(Bucket="pol-api", Policy=bad)
        assert code_of(exc) == ("MalformedPolicy", 400), bad[:80]
    assert alice.get_bucket_policy(Bucket="pol-api")["Policy"] == private  # unchanged

    alice.delete_bucket_policy(Bucket="pol-api")
    alice.delete_bucket_policy(Bucket="pol-api")  # no policy: still 204
    with pytest.raises(ClientError) as exc:
        alice.get_bucket_policy(Bucket="pol-api")
    assert code_of(exc) == ("NoSuchBucketPolicy", 404)
    with pytest.raises(ClientError) as exc:
        users["bob"].put_bucket_policy(Bucket="pol-api", Policy=text)
    assert code_of(exc) == ("AccessDenied", 403)


def test_public_read_policy_lets_anonymous_read_objects_not_list_or_write(users: dict[str, Any]) -> None:
    alice, anon = users["alice"], users["anon"]
    alice.create_bucket(Bucket="pol-public")
    alice.put_object(Bucket="pol-public", Key="pub/a.txt", Body=b"hello")
    alice.put_object(Bucket="pol-public", Key="private/b.txt", Body=b"secret")
    with pytest.raises(ClientError) as exc:
        anon.get_object(Bucket="pol-public", Key="pub/a.txt")
    assert code_of(exc) == ("AccessDenied", 403)

    alice.put_bucket_policy(
        Bucket="pol-public", Policy=policy(allow("*", "s3:GetObject", "arn:aws:s3:::pol-public/pub/*"))
    )
    assert anon.get_object(Bucket="pol-public", Key="pub/a.txt")["Body"].read() == b"hello"
    assert anon.head_object(Bucket="pol-public", Key="pub/a.txt")["ContentLength"] == 5
    assert denied(lambda: anon.get_object(Bucket="pol-public", Key="private/b.txt"))
    assert denied(lambda: anon.list_objects_v2(Bucket="pol-public"))
    assert denied(lambda: anon.put_object(Bucket="pol-public", Key="pub/new", Body=b"x"))
    assert denied(lambda: anon.list_buckets())
    assert denied(lambda: anon.create_bucket(Bucket="pol-anon-made"))
    with pytest.raises(ClientError) as exc:
        anon.get_object(Bucket="pol-no-such-bucket", Key="k")
    assert code_of(exc) == ("NoSuchBucket", 404)


def test_conditions_prefix_source_ip_and_secure_transport(users: dict[str, Any]) -> None:
    alice, bob = users["alice"], users["bob"]
    alice.create_bucket(Bucket="pol-cond")
    alice.put_object(Bucket="pol-cond", Key="home/bob/x", Body=b"1")
    listing = allow(
        {"AWS": user_arn("bob")},
        "s3:ListBucket",
        "arn:aws:s3:::pol-cond",
        Condition={"StringLike": {"s3:prefix": "home/${aws:username}/*"}},
    )
    reading = allow(
        {"AWS": user_arn("bob")},
        "s3:GetObject",
        "arn:aws:s3:::pol-cond/*",
        Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
    )
    alice.put_bucket_policy(Bucket="pol-cond", Policy=policy(listing, reading))
    assert bob.list_objects_v2(Bucket="pol-cond", Prefix="home/bob/")["KeyCount"] == 1
    assert denied(lambda: bob.list_objects_v2(Bucket="pol-cond", Prefix="home/alice/"))
    assert denied(lambda: bob.list_objects_v2(Bucket="pol-cond"))
    assert bob.get_object(Bucket="pol-cond", Key="home/bob/x")["Body"].read() == b"1"

    elsewhere = dict(reading, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    tls_only = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::pol-cond/*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    alice.put_bucket_policy(Bucket="pol-cond", Policy=policy(listing, elsewhere))
    assert denied(lambda: bob.get_object(Bucket="pol-cond", Key="home/bob/x"))
    alice.put_bucket_policy(Bucket="pol-cond", Policy=policy(listing, reading, tls_only))
    assert denied(lambda: bob.get_object(Bucket="pol-cond", Key="home/bob/x"))
    assert denied(lambda: alice.get_object(Bucket="pol-cond", Key="home/bob/x"))  # the owner too (plain HTTP)
    assert alice.list_objects_v2(Bucket="pol-cond")["KeyCount"] == 1  # the bucket ARN is not covered


def test_root_can_always_manage_a_policy_that_denies_everyone(users: dict[str, Any]) -> None:
    alice, root = users["alice"], users["root"]
    alice.create_bucket(Bucket="pol-lockout")
    deny_all = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::pol-lockout", "arn:aws:s3:::pol-lockout/*"],
    }
    alice.put_bucket_policy(Bucket="pol-lockout", Policy=policy(deny_all))
    assert denied(lambda: alice.get_bucket_policy(Bucket="pol-lockout"))
    assert denied(lambda: alice.delete_bucket_policy(Bucket="pol-lockout"))
    assert denied(lambda: root.list_objects_v2(Bucket="pol-lockout"))
    assert json.loads(root.get_bucket_policy(Bucket="pol-lockout")["Policy"])["Statement"] == [deny_all]
    root.delete_bucket_policy(Bucket="pol-lockout")
    assert alice.list_objects_v2(Bucket="pol-lockout")["KeyCount"] == 0


def test_copy_source_and_delete_objects_are_authorized_per_object(users: dict[str, Any]) -> None:
    alice, bob = users["alice"], users["bob"]
    alice.create_bucket(Bucket="pol-src")
    alice.put_object(Bucket="pol-src", Key="open/a", Body=b"a")
    alice.put_object(Bucket="pol-src", Key="closed/b", Body=b"b")
    bob.create_bucket(Bucket="pol-dst")
    grants = policy(
        allow({"AWS": user_arn("bob")}, "s3:GetObject", "arn:aws:s3:::pol-src/open/*"),
        allow({"AWS": user_arn("bob")}, "s3:DeleteObject", "arn:aws:s3:::pol-src/open/*"),
    )
    alice.put_bucket_policy(Bucket="pol-src", Policy=grants)
    bob.copy_object(Bucket="pol-dst", Key="a", CopySource={"Bucket": "pol-src", "Key": "open/a"})
    assert bob.get_object(Bucket="pol-dst", Key="a")["Body"].read() == b"a"
    assert denied(
        lambda: bob.copy_object(
            Bucket="pol-dst", Key="b", CopySource={"Bucket": "pol-src", "Key": "closed/b"}
        )
    )
    # into a bucket bob may not write, from one he may read: the destination decides
    assert denied(lambda: bob.copy_object(Bucket="pol-src", Key="open/c", CopySource="pol-src/open/a"))

    with pytest.raises(ClientError) as exc:  # not one of them: the call itself is refused
        bob.delete_objects(Bucket="pol-src", Delete={"Objects": [{"Key": "closed/b"}]})
    assert code_of(exc) == ("AccessDenied", 403)
    result = bob.delete_objects(
        Bucket="pol-src", Delete={"Objects": [{"Key": "open/a"}, {"Key": "closed/b"}]}
    )
    assert [d["Key"] for d in result.get("Deleted", [])] == ["open/a"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("closed/b", "AccessDenied")]
    assert alice.get_object(Bucket="pol-src", Key="closed/b")["Body"].read() == b"b"


def test_user_policies_allow_and_deny(s3e: Endpoint, users: dict[str, Any]) -> None:
    alice, bob = users["alice"], users["bob"]
    alice.create_bucket(Bucket="pol-user")
    alice.put_object(Bucket="pol-user", Key="k", Body=b"v")
    assert denied(lambda: bob.get_object(Bucket="pol-user", Key="k"))
    read = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    s3e.run(s3e.metadata.put_user_policy("bob", "read-all", json.dumps(read)))
    try:
        assert bob.get_object(Bucket="pol-user", Key="k")["Body"].read() == b"v"
        assert denied(lambda: bob.put_object(Bucket="pol-user", Key="k2", Body=b"v"))
        no_create = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Deny", "Action": ["s3:CreateBucket", "s3:ListAllMyBuckets"], "Resource": "*"}
            ],
        }
        s3e.run(s3e.metadata.put_user_policy("bob", "no-create", json.dumps(no_create)))
        assert denied(lambda: bob.create_bucket(Bucket="pol-bob-new"))
        assert denied(lambda: bob.list_buckets())
    finally:
        s3e.run(s3e.metadata.delete_user_policy("bob", "read-all"))
        s3e.run(s3e.metadata.delete_user_policy("bob", "no-create"))
    assert denied(lambda: bob.get_object(Bucket="pol-user", Key="k"))


# --- operation x principal x policy --------------------------------------------------------------

B = "pol-table"


def _setup(root: Any, alice: Any) -> dict[str, str]:
    alice.create_bucket(Bucket=B, ObjectOwnership="ObjectWriter")  # ACLs on: ACL writes are decided too
    alice.put_object(Bucket=B, Key="obj", Body=b"data")
    uploads = {}
    for name in ("complete", "abort", "part"):
        uploads[name] = alice.create_multipart_upload(Bucket=B, Key=f"mp-{name}")["UploadId"]
    etag = alice.upload_part(
        Bucket=B, Key="mp-complete", UploadId=uploads["complete"], PartNumber=1, Body=b"p"
    )
    uploads["etag"] = etag["ETag"]
    return uploads


OPERATIONS: list[tuple[str, Callable[[Any, dict[str, str]], Any]]] = [
    ("HeadBucket", lambda c, u: c.head_bucket(Bucket=B)),
    ("GetBucketLocation", lambda c, u: c.get_bucket_location(Bucket=B)),
    ("GetBucketVersioning", lambda c, u: c.get_bucket_versioning(Bucket=B)),
    (
        "PutBucketVersioning",
        lambda c, u: c.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Enabled"}),
    ),
    ("ListObjects", lambda c, u: c.list_objects(Bucket=B)),
    ("ListObjectsV2", lambda c, u: c.list_objects_v2(Bucket=B)),
    ("ListObjectVersions", lambda c, u: c.list_object_versions(Bucket=B)),
    ("ListMultipartUploads", lambda c, u: c.list_multipart_uploads(Bucket=B)),
    ("GetBucketAcl", lambda c, u: c.get_bucket_acl(Bucket=B)),
    ("GetBucketPolicyStatus", lambda c, u: c.get_bucket_policy_status(Bucket=B)),
    ("PutObject", lambda c, u: c.put_object(Bucket=B, Key="new", Body=b"x")),
    ("GetObject", lambda c, u: c.get_object(Bucket=B, Key="obj")["Body"].read()),
    ("HeadObject", lambda c, u: c.head_object(Bucket=B, Key="obj")),
    ("GetObjectAcl", lambda c, u: c.get_object_acl(Bucket=B, Key="obj")),
    ("CopyObject", lambda c, u: c.copy_object(Bucket=B, Key="copy", CopySource=f"{B}/obj")),
    ("CreateMultipartUpload", lambda c, u: c.create_multipart_upload(Bucket=B, Key="mp-new")),
    (
        "UploadPart",
        lambda c, u: c.upload_part(Bucket=B, Key="mp-part", UploadId=u["part"], PartNumber=1, Body=b"p"),
    ),
    (
        "UploadPartCopy",
        lambda c, u: c.upload_part_copy(
            Bucket=B, Key="mp-part", UploadId=u["part"], PartNumber=2, CopySource=f"{B}/obj"
        ),
    ),
    ("ListParts", lambda c, u: c.list_parts(Bucket=B, Key="mp-part", UploadId=u["part"])),
    (
        "CompleteMultipartUpload",
        lambda c, u: c.complete_multipart_upload(
            Bucket=B,
            Key="mp-complete",
            UploadId=u["complete"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": u["etag"]}]},
        ),
    ),
    (
        "AbortMultipartUpload",
        lambda c, u: c.abort_multipart_upload(Bucket=B, Key="mp-abort", UploadId=u["abort"]),
    ),
    ("GetObjectVersion", lambda c, u: c.get_object(Bucket=B, Key="obj", VersionId="null")["Body"].read()),
    ("HeadObjectVersion", lambda c, u: c.head_object(Bucket=B, Key="obj", VersionId="null")),
    ("GetObjectTagging", lambda c, u: c.get_object_tagging(Bucket=B, Key="obj")),
    (
        "GetObjectAttributes",
        lambda c, u: c.get_object_attributes(Bucket=B, Key="obj", ObjectAttributes=["ETag"]),
    ),
    ("GetObjectVersionTagging", lambda c, u: c.get_object_tagging(Bucket=B, Key="obj", VersionId="null")),
    ("GetBucketTagging", lambda c, u: c.get_bucket_tagging(Bucket=B)),
    (
        "PutObjectTagging",
        lambda c, u: c.put_object_tagging(
            Bucket=B, Key="obj", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
        ),
    ),
    ("DeleteObjectTagging", lambda c, u: c.delete_object_tagging(Bucket=B, Key="obj")),
    (
        "PutBucketTagging",
        lambda c, u: c.put_bucket_tagging(Bucket=B, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}),
    ),
    ("DeleteBucketTagging", lambda c, u: c.delete_bucket_tagging(Bucket=B)),
    ("PutObjectAcl", lambda c, u: c.put_object_acl(Bucket=B, Key="obj", ACL="private")),
    ("PutBucketAcl", lambda c, u: c.put_bucket_acl(Bucket=B, ACL="private")),
    ("DeleteObjectVersion", lambda c, u: c.delete_object(Bucket=B, Key="copy", VersionId="null")),
    ("DeleteObject", lambda c, u: c.delete_object(Bucket=B, Key="obj")),
    ("DeleteObjects", lambda c, u: _delete_objects(c)),
]


def _delete_objects(client: Any) -> None:
    result = client.delete_objects(Bucket=B, Delete={"Objects": [{"Key": "new"}]})
    if result.get("Errors"):
        error = result["Errors"][0]
        raise ClientError({"Error": {"Code": error["Code"], "Message": error["Message"]}}, "DeleteObjects")


EVERYTHING = ["arn:aws:s3:::pol-table", "arn:aws:s3:::pol-table/*"]
POLICIES = {
    "none": None,
    "allow-all": policy(allow("*", "s3:*", EVERYTHING)),
    "allow-bob": policy(allow({"AWS": user_arn("bob")}, "s3:*", EVERYTHING)),
    "deny-all": policy({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": EVERYTHING}),
    "read-only": policy(allow("*", ["s3:Get*", "s3:List*"], EVERYTHING)),
}
# principal -> policy -> allowed
OUTCOMES: dict[str, dict[str, bool | None]] = {
    "root": {"none": True, "allow-all": True, "allow-bob": True, "deny-all": False, "read-only": True},
    "alice": {
        "none": True,
        "allow-all": True,
        "allow-bob": True,
        "deny-all": False,
        "read-only": True,
    },  # owner
    "bob": {"none": False, "allow-all": True, "allow-bob": True, "deny-all": False, "read-only": None},
    "anon": {"none": False, "allow-all": True, "allow-bob": False, "deny-all": False, "read-only": None},
}
READS = {  # what s3:Get* and s3:List* cover (None above: allowed for these only)
    "HeadBucket",
    "GetBucketLocation",
    "GetBucketVersioning",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "ListMultipartUploads",
    "GetBucketAcl",
    "GetBucketPolicyStatus",
    "GetObject",
    "HeadObject",
    "GetObjectAcl",
    "ListParts",
    "GetObjectVersion",
    "HeadObjectVersion",
    "GetObjectTagging",
    "GetObjectVersionTagging",
    "GetObjectAttributes",
    "GetBucketTagging",
}


@pytest.mark.parametrize(("who", "setting"), list(itertools.product(OUTCOMES, POLICIES)))
def test_every_operation_by_every_principal_under_every_policy(
    users: dict[str, Any], who: str, setting: str
) -> None:
    root, alice = users["root"], users["alice"]
    uploads = _setup(root, alice)
    text = POLICIES[setting]
    if text is not None:
        alice.put_bucket_policy(Bucket=B, Policy=text)
    try:
        outcome: bool | None = OUTCOMES[who][setting]
        wrong: dict[str, bool | str] = {}
        for name, call in OPERATIONS:
            expected = outcome if outcome is not None else name in READS
            try:
                got: bool | str = not denied(partial(call, users[who], uploads))
            except ClientError as exc:  # allowed, and refused for a reason of its own
                got = exc.response["Error"]["Code"]
            if (name, got, text) == ("GetBucketPolicyStatus", "NoSuchBucketPolicy", None):
                got = True  # allowed, and there is no policy to report on
            if (name, got) == ("GetBucketTagging", "NoSuchTagSet"):
                got = True  # allowed, and the bucket has no tags (PutBucketTagging comes later)
            if got is not expected:
                wrong[name] = got
        assert not wrong, f"{who} under {setting}: expected allowed={outcome}, got {wrong}"
    finally:
        root.delete_bucket_policy(Bucket=B)
        for version in root.list_object_versions(Bucket=B).get("Versions", []) + root.list_object_versions(
            Bucket=B
        ).get("DeleteMarkers", []):
            root.delete_object(Bucket=B, Key=version["Key"], VersionId=version["VersionId"])
        for upload in root.list_multipart_uploads(Bucket=B).get("Uploads", []):
            root.abort_multipart_upload(Bucket=B, Key=upload["Key"], UploadId=upload["UploadId"])
        root.delete_bucket(Bucket=B)


def test_version_tagging_and_copy_source_actions_are_decided_on_their_own(users: dict[str, Any]) -> None:
    """`?versionId=` asks for the *Version action, a tag read for s3:GetObjectTagging, and a copy
    needs s3:GetObject on its source as well as s3:PutObject on its target."""
    alice, bob = users["alice"], users["bob"]
    alice.create_bucket(Bucket="pol-actions")
    alice.put_object(Bucket="pol-actions", Key="src/a", Body=b"a")
    alice.put_bucket_policy(
        Bucket="pol-actions",
        Policy=policy(
            allow({"AWS": user_arn("bob")}, "s3:GetObject", "arn:aws:s3:::pol-actions/*"),
            allow({"AWS": user_arn("bob")}, "s3:PutObject", "arn:aws:s3:::pol-actions/dst/*"),
            {
                "Effect": "Deny",
                "Principal": {"AWS": user_arn("bob")},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::pol-actions/secret/*",
            },
        ),
    )
    alice.put_object(Bucket="pol-actions", Key="secret/s", Body=b"s")
    assert bob.get_object(Bucket="pol-actions", Key="src/a")["Body"].read() == b"a"
    assert denied(lambda: bob.get_object(Bucket="pol-actions", Key="src/a", VersionId="null"))
    assert denied(lambda: bob.get_object_tagging(Bucket="pol-actions", Key="src/a"))
    bob.copy_object(Bucket="pol-actions", Key="dst/a", CopySource="pol-actions/src/a")
    assert denied(
        lambda: bob.copy_object(Bucket="pol-actions", Key="dst/s", CopySource="pol-actions/secret/s")
    )
    assert denied(lambda: bob.copy_object(Bucket="pol-actions", Key="other", CopySource="pol-actions/src/a"))
    assert [o["Key"] for o in alice.list_objects_v2(Bucket="pol-actions")["Contents"]] == [
        "dst/a",
        "secret/s",
        "src/a",
    ]
