"""The policy language: validation on write (MalformedPolicy) and AWS's evaluation logic."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cairn.api_service.policy import (
    Decision,
    MalformedPolicy,
    Principal,
    RequestContext,
    decide,
    evaluate,
    is_public,
    parse_policy,
)

ACCOUNT = "000000000000"
ALICE = Principal(f"arn:aws:iam::{ACCOUNT}:user/alice", "AIDAALICE", "alice", ACCOUNT)
BOB = Principal(f"arn:aws:iam::{ACCOUNT}:user/bob", "AIDABOB", "bob", ACCOUNT)
ROOT = Principal(f"arn:aws:iam::{ACCOUNT}:root", "AIDAROOT", "root", ACCOUNT, is_root=True)
ANON = Principal()
OBJ = "arn:aws:s3:::b/photos/cat.jpg"


def bucket_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def stmt(
    effect: str = "Allow",
    principal: Any = "*",
    action: Any = "s3:GetObject",
    resource: Any = None,
    **more: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect, "Action": action, "Resource": resource or "arn:aws:s3:::b/*"}
    if principal is not None:
        out["Principal"] = principal
    out.update(more)
    return out


def ask(
    doc: str,
    who: Principal = ANON,
    action: str = "s3:GetObject",
    resource: str = OBJ,
    bucket: str | None = "b",
    **keys: str | tuple[str, ...],
) -> Decision | None:
    ctx_keys = {
        k.lower().replace("__", ":").replace("_", "-"): (v if isinstance(v, tuple) else (v,))
        for k, v in keys.items()
    }
    return evaluate([parse_policy(doc, bucket=bucket)], RequestContext(who, action, resource, ctx_keys))


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "first byte must be '{'"),
        ("{", "valid JSON"),
        ("[]", "first byte must be '{'"),
        (json.dumps({"Version": "2012-10-17"}), "Missing required field Statement"),
        (json.dumps({"Version": "2013-01-01", "Statement": [stmt()]}), "Invalid policy version"),
        (json.dumps({"Statement": [stmt()], "Bogus": 1}), "Unknown field Bogus"),
        (bucket_policy(stmt(effect="Maybe")), "Invalid effect"),
        (bucket_policy(stmt(principal=None)), "Missing required field Principal"),
        (bucket_policy(stmt(principal={"AWS": "alice"})), "Invalid principal"),
        (bucket_policy(stmt(principal={"Nobody": "*"})), "Invalid principal"),
        (bucket_policy(stmt(action="s3:FlyAway")), "invalid action"),
        (bucket_policy(stmt(action="ec2:RunInstances")), "invalid action"),
        (bucket_policy(stmt(action="s3:Zz*")), "invalid action"),
        (bucket_policy(stmt(resource="arn:aws:s3:::other/*")), "invalid resource"),
        (bucket_policy(stmt(resource="arn:aws:ec2:::b")), "invalid resource"),
        (bucket_policy({**stmt(), "Resource": []}), "invalid resource"),
        (bucket_policy({**stmt(), "NotAction": "s3:PutObject"}), "Missing required field Action"),
        (bucket_policy(stmt(Condition={"StringSorta": {"s3:prefix": "a"}})), "Invalid Condition type"),
        (
            bucket_policy(stmt(Condition={"ForSomeValues:StringLike": {"s3:prefix": "a"}})),
            "Invalid Condition type",
        ),
        (bucket_policy(stmt(Condition={"StringLike": {"s3:flavour": "a"}})), "invalid condition key"),
        (
            bucket_policy(stmt(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.300/8"}})),
            "Invalid Condition value",
        ),
        (
            bucket_policy(stmt(Condition={"NumericLessThan": {"s3:max-keys": "ten"}})),
            "Invalid Condition value",
        ),
        (
            bucket_policy(stmt(Condition={"DateGreaterThan": {"aws:CurrentTime": "yesterday"}})),
            "Invalid Condition value",
        ),
        (
            bucket_policy(stmt(Condition={"Bool": {"aws:SecureTransport": "maybe"}})),
            "Invalid Condition value",
        ),
        (bucket_policy(stmt(Condition={"NullIfExists": {"s3:prefix": "true"}})), "Invalid Condition type"),
        ('{"Statement": [], "Statement": []}', "Duplicate field Statement"),
        (bucket_policy(), "Statement is empty"),
    ],
)
def test_invalid_bucket_policies_are_malformed(document: str, message: str) -> None:
    with pytest.raises(MalformedPolicy) as exc:
        parse_policy(document, bucket="b")
    assert exc.value.status == 400 and exc.value.code == "MalformedPolicy"
    assert message.lower() in exc.value.message.lower()


def test_user_policies_have_no_principal_and_any_bucket() -> None:
    doc = bucket_policy(stmt(principal=None, resource="arn:aws:s3:::any-bucket/*"))
    assert parse_policy(doc).statements[0].principals is None
    with pytest.raises(MalformedPolicy, match="should not specify a principal"):
        parse_policy(bucket_policy(stmt()))


def test_valid_forms_parse() -> None:
    doc = json.dumps(
        {
            "Version": "2008-10-17",
            "Id": "x",
            "Statement": {
                "Sid": "one",
                "Effect": "Deny",
                "NotPrincipal": {
                    "AWS": [f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT],
                    "CanonicalUser": "AIDAX",
                },
                "NotAction": ["s3:Get*", "s3:List*"],
                "NotResource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                "Condition": {
                    "ForAnyValue:StringEqualsIgnoreCase": {"aws:username": ["A", "b"]},
                    "NumericLessThanEqualsIfExists": {"s3:max-keys": 10},
                    "Bool": {"aws:SecureTransport": False},
                },
            },
        }
    )
    (s,) = parse_policy(doc, bucket="b").statements
    assert s.effect is Decision.DENY and s.not_principal and s.not_action and s.not_resource
    assert {c.key for c in s.conditions} == {"aws:username", "s3:max-keys", "aws:securetransport"}


# --- evaluation ---------------------------------------------------------------------------------


def test_default_is_no_decision_allow_matches_and_deny_wins() -> None:
    allow = stmt()
    deny = stmt(effect="Deny", resource="arn:aws:s3:::b/photos/*")
    assert ask(bucket_policy(allow), action="s3:PutObject") is None
    assert ask(bucket_policy(allow)) is Decision.ALLOW
    assert ask(bucket_policy(allow, deny)) is Decision.DENY
    assert ask(bucket_policy(deny, allow), resource="arn:aws:s3:::b/docs/x") is Decision.ALLOW


@pytest.mark.parametrize(
    ("principal", "who", "matches"),
    [
        ("*", ANON, True),
        ("*", ALICE, True),
        ({"AWS": "*"}, ANON, True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, ALICE, True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, BOB, False),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, ANON, False),
        ({"AWS": [f"arn:aws:iam::{ACCOUNT}:user/x", f"arn:aws:iam::{ACCOUNT}:user/bob"]}, BOB, True),
        ({"AWS": ACCOUNT}, BOB, True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, ALICE, True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, ANON, False),
        ({"AWS": "111111111111"}, ALICE, False),
        ({"CanonicalUser": "AIDAALICE"}, ALICE, True),
        ({"CanonicalUser": "AIDAALICE"}, BOB, False),
    ],
)
def test_principals(principal: Any, who: Principal, matches: bool) -> None:
    assert ask(bucket_policy(stmt(principal=principal)), who) is (Decision.ALLOW if matches else None)


def test_not_principal_applies_to_everyone_else() -> None:
    doc = bucket_policy(
        stmt(effect="Deny", NotPrincipal={"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, principal=None)
    )
    assert ask(doc, ALICE) is None
    assert ask(doc, BOB) is Decision.DENY
    assert ask(doc, ANON) is Decision.DENY


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("s3:GetObject", "s3:GetObject", True),
        ("s3:getobject", "s3:GetObject", True),  # action names are case-insensitive
        ("s3:Get*", "s3:GetObjectVersion", True),
        ("s3:Get*", "s3:PutObject", False),
        ("s3:*Object", "s3:DeleteObject", True),
        ("s3:?etObject", "s3:GetObject", True),
        ("s3:*", "s3:ListBucket", True),
        ("*", "s3:ListBucket", True),
        ("s3:GetObject", "s3:GetObjectVersion", False),
    ],
)
def test_action_wildcards(pattern: str, action: str, matches: bool) -> None:
    assert ask(bucket_policy(stmt(action=pattern)), action=action) is (Decision.ALLOW if matches else None)


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    [
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", True),
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b", False),
        ("arn:aws:s3:::b", "arn:aws:s3:::b", True),
        ("arn:aws:s3:::b/photos/*.jpg", "arn:aws:s3:::b/photos/x/y.jpg", True),
        ("arn:aws:s3:::b/photos/?.jpg", "arn:aws:s3:::b/photos/ab.jpg", False),
        ("arn:aws:s3:::b/Photos/*", "arn:aws:s3:::b/photos/x", False),  # resources are case-sensitive
        ("arn:aws:s3:::b/[ab]", "arn:aws:s3:::b/a", False),  # brackets are literal
        ("arn:aws:s3:::b/[ab]", "arn:aws:s3:::b/[ab]", True),
        ("*", "arn:aws:s3:::b/anything", True),
    ],
)
def test_resource_wildcards(pattern: str, resource: str, matches: bool) -> None:
    assert ask(bucket_policy(stmt(resource=pattern)), resource=resource) is (
        Decision.ALLOW if matches else None
    )


def test_not_action_and_not_resource() -> None:
    doc = bucket_policy(
        {"Effect": "Deny", "Principal": "*", "NotAction": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}
    )
    assert ask(doc) is None
    assert ask(doc, action="s3:PutObject") is Decision.DENY
    doc = bucket_policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/secret/*"}
    )
    assert ask(doc) is Decision.ALLOW
    assert ask(doc, resource="arn:aws:s3:::b/secret/x") is None


def test_policy_variables_in_resources() -> None:
    doc = bucket_policy(stmt(principal="*", resource="arn:aws:s3:::b/home/${aws:username}/*"))
    assert ask(doc, ALICE, resource="arn:aws:s3:::b/home/alice/x", aws__username="alice") is Decision.ALLOW
    assert ask(doc, ALICE, resource="arn:aws:s3:::b/home/bob/x", aws__username="alice") is None
    assert ask(doc, ANON, resource="arn:aws:s3:::b/home//x") is None  # no username: no match
    literal = bucket_policy(stmt(resource="arn:aws:s3:::b/${*}"))
    assert ask(literal, resource="arn:aws:s3:::b/*") is Decision.ALLOW
    assert ask(literal, resource="arn:aws:s3:::b/x") is None


def cond(block: dict[str, Any], **keys: Any) -> bool:
    return ask(bucket_policy(stmt(Condition=block)), **keys) is Decision.ALLOW


def test_string_conditions() -> None:
    assert cond({"StringEquals": {"s3:x-amz-acl": "public-read"}}, s3__x_amz_acl="public-read")
    assert not cond({"StringEquals": {"s3:x-amz-acl": "public-read"}}, s3__x_amz_acl="Public-Read")
    assert cond({"StringEqualsIgnoreCase": {"s3:x-amz-acl": "public-read"}}, s3__x_amz_acl="Public-Read")
    assert cond({"StringEquals": {"s3:x-amz-acl": ["private", "public-read"]}}, s3__x_amz_acl="private")
    assert not cond({"StringEquals": {"s3:x-amz-acl": "public-read"}})  # absent key: no match
    assert cond({"StringNotEquals": {"s3:x-amz-acl": "public-read"}})  # absent key: negation holds
    assert not cond({"StringNotEquals": {"s3:x-amz-acl": ["a", "b"]}}, s3__x_amz_acl="b")
    assert cond({"StringLike": {"s3:prefix": ["home/*", "pub?"]}}, s3__prefix="home/x/y")
    assert cond({"StringLike": {"s3:prefix": ["home/*", "pub?"]}}, s3__prefix="pubs")
    assert not cond({"StringNotLike": {"s3:prefix": "home/*"}}, s3__prefix="home/a")
    assert cond(
        {"StringEquals": {"s3:prefix": "home/${aws:username}/"}},
        s3__prefix="home/alice/",
        aws__username="alice",
    )


def test_condition_key_names_are_case_insensitive() -> None:
    assert cond({"StringEquals": {"S3:X-Amz-Acl": "private"}}, s3__x_amz_acl="private")


def test_numeric_date_bool_ip_and_binary_conditions() -> None:
    assert cond({"NumericLessThanEquals": {"s3:max-keys": "10"}}, s3__max_keys="10")
    assert not cond({"NumericLessThan": {"s3:max-keys": "10"}}, s3__max_keys="10")
    assert not cond({"NumericLessThan": {"s3:max-keys": "10"}}, s3__max_keys="lots")
    assert cond({"NumericNotEquals": {"s3:max-keys": 5}}, s3__max_keys="6")
    assert cond({"NumericGreaterThan": {"s3:max-keys": 5}}, s3__max_keys="6")
    assert cond(
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, aws__currenttime="2026-12-03T17:00:00Z"
    )
    assert not cond(
        {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01"}}, aws__currenttime="2026-12-03T17:00:00Z"
    )
    assert cond({"DateGreaterThanEquals": {"aws:EpochTime": "1700000000"}}, aws__epochtime="1800000000")
    assert cond({"Bool": {"aws:SecureTransport": "true"}}, aws__securetransport="true")
    assert not cond({"Bool": {"aws:SecureTransport": True}}, aws__securetransport="false")
    assert cond({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.1.1/32"]}}, aws__sourceip="10.1.2.3")
    assert not cond({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, aws__sourceip="11.0.0.1")
    assert cond({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, aws__sourceip="2001:db8::1")
    assert cond({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, aws__sourceip="127.0.0.1")
    assert not cond({"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, aws__sourceip="127.0.0.1")
    assert cond({"BinaryEquals": {"aws:userid": "QUJD"}}, aws__userid="QUJD")
    assert cond({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/a*"}}, aws__principalarn=ALICE.arn)
    assert not cond({"ArnNotEquals": {"aws:PrincipalArn": ALICE.arn}}, aws__principalarn=ALICE.arn)


def test_if_exists_and_null() -> None:
    assert cond({"NumericLessThanIfExists": {"s3:max-keys": "10"}})
    assert not cond({"NumericLessThanIfExists": {"s3:max-keys": "10"}}, s3__max_keys="11")
    assert cond({"Null": {"s3:x-amz-acl": "true"}})
    assert not cond({"Null": {"s3:x-amz-acl": "true"}}, s3__x_amz_acl="private")
    assert cond({"Null": {"s3:x-amz-acl": "false"}}, s3__x_amz_acl="private")


def test_every_operator_and_every_key_must_hold() -> None:
    block = {"StringLike": {"s3:prefix": "a*", "s3:delimiter": "/"}, "NumericLessThan": {"s3:max-keys": 100}}
    assert cond(block, s3__prefix="ab", s3__delimiter="/", s3__max_keys="10")
    assert not cond(block, s3__prefix="ab", s3__delimiter="/", s3__max_keys="1000")
    assert not cond(block, s3__prefix="ab", s3__max_keys="10")


def test_multi_valued_keys() -> None:
    tags = ("a", "b")
    assert cond(
        {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["b", "z"]}}, s3__requestobjecttagkeys=tags
    )
    assert not cond(
        {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["b", "z"]}}, s3__requestobjecttagkeys=tags
    )
    assert cond(
        {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b", "c"]}},
        s3__requestobjecttagkeys=tags,
    )
    assert cond(
        {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["a"]}}
    )  # no values: vacuously true
    assert not cond({"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["a"]}})


def test_existing_object_tag_condition() -> None:
    block = {"StringEquals": {"s3:ExistingObjectTag/classification": "public"}}
    assert cond(block, **{"s3:existingobjecttag/classification": "public"})
    assert not cond(block, **{"s3:existingobjecttag/classification": "secret"})
    assert parse_policy(bucket_policy(stmt(Condition=block)), bucket="b").mentions("s3:existingobjecttag/")


# --- decide: several policies with the owner and root rules --------------------------------------

ALLOW_ALICE = parse_policy(bucket_policy(stmt(principal={"AWS": ALICE.arn}, action="s3:*")), bucket="b")
DENY_ALL = parse_policy(
    bucket_policy(stmt(effect="Deny", action="s3:*", resource=["arn:aws:s3:::b", "arn:aws:s3:::b/*"])),
    bucket="b",
)
USER_ALLOW = parse_policy(
    bucket_policy(stmt(principal=None, action="s3:GetObject", resource="arn:aws:s3:::b/*"))
)
USER_DENY = parse_policy(bucket_policy(stmt(effect="Deny", principal=None, action="s3:*", resource="*")))


@pytest.mark.parametrize(
    ("who", "action", "owns", "bucket", "user", "acl", "allowed"),
    [
        (ANON, "s3:GetObject", False, None, (), False, False),  # default deny
        (BOB, "s3:GetObject", False, None, (), False, False),
        (ALICE, "s3:GetObject", True, None, (), False, True),  # the owner
        (ROOT, "s3:GetObject", False, None, (), False, True),  # root
        (ALICE, "s3:GetObject", False, ALLOW_ALICE, (), False, True),  # bucket policy allow
        (BOB, "s3:GetObject", False, ALLOW_ALICE, (), False, False),
        (BOB, "s3:GetObject", False, None, (USER_ALLOW,), False, True),  # user policy allow
        (BOB, "s3:PutObject", False, None, (USER_ALLOW,), False, False),
        (ANON, "s3:GetObject", False, None, (USER_ALLOW,), False, False),  # anonymous has no user policy
        (ANON, "s3:GetObject", False, None, (), True, True),  # an ACL grant
        (ALICE, "s3:GetObject", True, DENY_ALL, (), False, False),  # explicit deny beats owner
        (ALICE, "s3:GetObject", False, ALLOW_ALICE, (USER_DENY,), False, False),  # ... and allow
        (BOB, "s3:GetObject", False, DENY_ALL, (), True, False),  # ... and ACLs
        (ROOT, "s3:GetObject", False, DENY_ALL, (), False, False),  # root too
        (ROOT, "s3:PutBucketPolicy", False, DENY_ALL, (), False, True),  # but root keeps the policy
        (ROOT, "s3:DeleteBucketPolicy", False, DENY_ALL, (), False, True),
        (ALICE, "s3:DeleteBucketPolicy", True, DENY_ALL, (), False, False),
    ],
)
def test_decide(
    who: Principal, action: str, owns: bool, bucket: Any, user: Any, acl: bool, allowed: bool
) -> None:
    resource = "arn:aws:s3:::b" if "Policy" in action else OBJ
    ctx = RequestContext(who, action, resource, {})
    assert decide(ctx, owns=owns, bucket_policy=bucket, user_policies=user, acl_allows=acl) is allowed


def test_policy_status() -> None:
    assert is_public(parse_policy(bucket_policy(stmt()), bucket="b"))
    assert not is_public(parse_policy(bucket_policy(stmt(principal={"AWS": ALICE.arn})), bucket="b"))
    assert not is_public(parse_policy(bucket_policy(stmt(effect="Deny")), bucket="b"))
    ip_bound = stmt(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    assert not is_public(parse_policy(bucket_policy(ip_bound), bucket="b"))
