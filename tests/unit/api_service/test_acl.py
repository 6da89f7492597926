"""acl.py: canned ACLs, grant headers, the AccessControlPolicy XML, the stored form and who a grant
admits."""

from __future__ import annotations

import pytest

from cairn.api_service import acl
from cairn.api_service.acl import ALL_USERS, AUTHENTICATED_USERS, Grant
from cairn.api_service.errors import S3Error


def test_canned_acls() -> None:
    owner_fc = Grant("CanonicalUser", "me", "FULL_CONTROL")
    assert acl.canned("private", "me", "bucket-owner") == (owner_fc,)
    assert acl.canned("public-read-write", "me", "me") == (
        owner_fc,
        Grant("Group", ALL_USERS, "READ"),
        Grant("Group", ALL_USERS, "WRITE"),
    )
    assert acl.canned("authenticated-read", "me", "me")[1] == Grant("Group", AUTHENTICATED_USERS, "READ")
    assert acl.canned("bucket-owner-full-control", "me", "bo")[1] == Grant(
        "CanonicalUser", "bo", "FULL_CONTROL"
    )
    assert acl.canned("bucket-owner-read", "me", "me") == (owner_fc,)  # the owner already has it
    with pytest.raises(S3Error) as exc:
        acl.canned("public", "me", "me")
    assert exc.value.code == "InvalidArgument"


def test_grant_headers() -> None:
    headers = {
        "x-amz-grant-read": f'uri="{ALL_USERS}", id="u1"',
        "x-amz-grant-full-control": "id=u2",
    }
    assert acl.from_headers(headers, "me", "me") == (
        Grant("Group", ALL_USERS, "READ"),
        Grant("CanonicalUser", "u1", "READ"),
        Grant("CanonicalUser", "u2", "FULL_CONTROL"),
    )
    assert acl.from_headers({}, "me", "me") is None
    for bad, code in (
        ({"x-amz-acl": "private", "x-amz-grant-read": "id=x"}, "InvalidRequest"),
        ({"x-amz-grant-read": 'emailAddress="a@b.c"'}, "UnresolvableGrantByEmailAddress"),
        ({"x-amz-grant-read": 'uri="http://example.com/not-a-group"'}, "InvalidArgument"),
    ):
        with pytest.raises(S3Error) as exc:
            acl.from_headers(bad, "me", "me")
        assert exc.value.code == code


@pytest.mark.parametrize(
    ("headers", "private"),
    [
        ({}, True),
        ({"x-amz-acl": "private"}, True),
        ({"x-amz-acl": "bucket-owner-full-control"}, True),
        ({"x-amz-acl": "public-read"}, False),
        ({"x-amz-grant-read": "id=x"}, False),
    ],
)
def test_is_private(headers: dict[str, str], private: bool) -> None:
    assert acl.is_private(headers) is private


def test_stored_form_and_xml_round_trip() -> None:
    grants = (Grant("CanonicalUser", "me", "FULL_CONTROL"), Grant("Group", ALL_USERS, "READ"))
    assert acl.encode(acl.owner_only("me"), "me") == ""
    assert acl.decode("", "me") == acl.owner_only("me")
    assert acl.decode(acl.encode(grants, "me"), "me") == grants
    assert acl.parse(acl.render("me", grants)) == ("me", grants)


def test_malformed_policies_are_refused() -> None:
    for body in (b"<AccessControlPolicy/>", b"<Other/>", acl.render("me", ()).replace(b"<ID>me", b"<X>me")):
        with pytest.raises(S3Error) as exc:
            acl.parse(body)
        assert exc.value.code == "MalformedXML"


def test_who_a_grant_admits() -> None:
    public = (Grant("Group", ALL_USERS, "READ"),)
    signed = (Grant("Group", AUTHENTICATED_USERS, "READ"),)
    user = (Grant("CanonicalUser", "u1", "FULL_CONTROL"),)
    assert acl.allows(public, "READ", "") and not acl.allows(public, "WRITE", "u1")
    assert acl.allows(signed, "READ", "u1") and not acl.allows(signed, "READ", "")
    assert acl.allows(user, "WRITE_ACP", "u1") and not acl.allows(user, "READ", "u2")
