"""Access control lists (pure): grants from canned ACLs, `x-amz-grant-*` headers and the
AccessControlPolicy XML, their stored form, their XML, and the permission an action needs.

A grant is (grantee type, grantee, permission): a `CanonicalUser` by its canonical id (a Cairn
user id) or a `Group` by its URI (AllUsers: anyone, the anonymous caller included;
AuthenticatedUsers: any signed-in caller; LogDelivery: kept and shown, matching no caller). A
grant by e-mail address cannot be resolved (400 UnresolvableGrantByEmailAddress), as in every S3
region created since 2019. Stored form: compact JSON `[[type, grantee, permission], ...]`; ""
stands for the default, the owner's FULL_CONTROL alone.

Object Ownership (`BucketOwnerEnforced`, `BucketOwnerPreferred`, `ObjectWriter`) says whether a
bucket's ACLs are in force at all; api_service/README.md tells the story.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import s3_xml
from .errors import InvalidArgument, InvalidRequest, MalformedXML, S3Error

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY})
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
CANNED = frozenset(
    {
        "private",
        "public-read",
        "public-read-write",
        "authenticated-read",
        "aws-exec-read",
        "bucket-owner-read",
        "bucket-owner-full-control",
        "log-delivery-write",
    }
)

BUCKET_OWNER_ENFORCED = "BucketOwnerEnforced"
BUCKET_OWNER_PREFERRED = "BucketOwnerPreferred"
OBJECT_WRITER = "ObjectWriter"
OWNERSHIPS = (BUCKET_OWNER_ENFORCED, BUCKET_OWNER_PREFERRED, OBJECT_WRITER)

# Bucket configuration kinds (metadata service) holding a bucket's ownership setting and its ACL.
OWNERSHIP_KIND = "ownership"
ACL_KIND = "acl"

_HEADERS = {
    "x-amz-grant-read": "READ",
    "x-amz-grant-write": "WRITE",
    "x-amz-grant-read-acp": "READ_ACP",
    "x-amz-grant-write-acp": "WRITE_ACP",
    "x-amz-grant-full-control": "FULL_CONTROL",
}

# The permission an action needs from a bucket's ACL, and from an object's.
BUCKET_PERMISSION = {
    "s3:ListBucket": "READ",
    "s3:ListBucketVersions": "READ",
    "s3:ListBucketMultipartUploads": "READ",
    "s3:PutObject": "WRITE",
    "s3:DeleteObject": "WRITE",
    "s3:DeleteObjectVersion": "WRITE",
    "s3:AbortMultipartUpload": "WRITE",
    "s3:GetBucketAcl": "READ_ACP",
    "s3:PutBucketAcl": "WRITE_ACP",
}
OBJECT_PERMISSION = {
    "s3:GetObject": "READ",
    "s3:GetObjectVersion": "READ",
    "s3:GetObjectAttributes": "READ",
    "s3:GetObjectVersionAttributes": "READ",
    "s3:GetObjectAcl": "READ_ACP",
    "s3:GetObjectVersionAcl": "READ_ACP",
    "s3:PutObjectAcl": "WRITE_ACP",
    "s3:PutObjectVersionAcl": "WRITE_ACP",
}


class UnresolvableGrantByEmailAddress(S3Error):
    code, status = "UnresolvableGrantByEmailAddress", 400
    default_message = "The e-mail address you provided does not match any account on record."


@dataclass(frozen=True, slots=True)
class Grant:
    kind: str  # "CanonicalUser" or "Group"
    grantee: str  # canonical id, or group URI
    permission: str


Grants = tuple[Grant, ...]


def owner_only(owner: str) -> Grants:
    return (Grant("CanonicalUser", owner, "FULL_CONTROL"),)


def encode(grants: Grants, owner: str) -> str:
    """The stored form ("" for the owner's FULL_CONTROL alone)."""
    if grants == owner_only(owner):
        return ""
    return json.dumps([[g.kind, g.grantee, g.permission] for g in grants], separators=(",", ":"))


def decode(text: str, owner: str) -> Grants:
    if not text:
        return owner_only(owner)
    return tuple(Grant(kind, grantee, permission) for kind, grantee, permission in json.loads(text))


def canned(name: str, owner: str, bucket_owner: str) -> Grants:
    """The grants of a canned ACL (`x-amz-acl`); 400 InvalidArgument for an unknown one."""
    name = name.strip()
    if name not in CANNED:
        raise InvalidArgument(None, ArgumentName="x-amz-acl", ArgumentValue=name)
    grants = list(owner_only(owner))
    if name in ("public-read", "public-read-write"):
        grants.append(Grant("Group", ALL_USERS, "READ"))
    if name == "public-read-write":
        grants.append(Grant("Group", ALL_USERS, "WRITE"))
    if name == "authenticated-read":
        grants.append(Grant("Group", AUTHENTICATED_USERS, "READ"))
    if name == "log-delivery-write":
        grants += [Grant("Group", LOG_DELIVERY, "WRITE"), Grant("Group", LOG_DELIVERY, "READ_ACP")]
    if name in ("bucket-owner-read", "bucket-owner-full-control") and bucket_owner != owner:
        permission = "READ" if name == "bucket-owner-read" else "FULL_CONTROL"
        grants.append(Grant("CanonicalUser", bucket_owner, permission))
    return tuple(grants)


def _grantee(text: str) -> tuple[str, str]:
    kind, _, value = text.strip().partition("=")
    value = value.strip().strip('"')
    kind = kind.strip().lower()
    if kind == "id" and value:
        return "CanonicalUser", value
    if kind == "uri" and value in GROUPS:
        return "Group", value
    if kind == "emailaddress":
        raise UnresolvableGrantByEmailAddress()
    raise InvalidArgument("Invalid id", ArgumentName="x-amz-grant", ArgumentValue=text.strip())


def from_headers(headers: Mapping[str, str], owner: str, bucket_owner: str) -> Grants | None:
    """The ACL a request sets with `x-amz-acl` or `x-amz-grant-*` headers; None if it has neither."""
    grant_headers = [name for name in _HEADERS if name in headers]
    if "x-amz-acl" in headers:
        if grant_headers:
            raise InvalidRequest("Specifying both Canned ACLs and Header Grants is not allowed")
        return canned(headers["x-amz-acl"], owner, bucket_owner)
    if not grant_headers:
        return None
    grants: list[Grant] = []
    for name in grant_headers:
        for item in headers[name].split(","):
            if item.strip():
                kind, grantee = _grantee(item)
                grants.append(Grant(kind, grantee, _HEADERS[name]))
    return tuple(grants)


def is_private(headers: Mapping[str, str]) -> bool:
    """Whether the request's ACL headers ask for nothing beyond its owner's control: what a bucket
    with ACLs disabled accepts (`private`, or `bucket-owner-full-control` for uploads)."""
    if any(name in headers for name in _HEADERS):
        return False
    return headers.get("x-amz-acl", "private").strip().lower() in ("private", "bucket-owner-full-control")


def parse(body: bytes) -> tuple[str, Grants]:
    """(owner id, grants) of an AccessControlPolicy document."""
    root = s3_xml.parse_xml(body)
    if root.tag != "AccessControlPolicy":
        raise MalformedXML()
    owner = root.findtext("Owner/ID")
    acl = root.find("AccessControlList")
    if owner is None or acl is None:
        raise MalformedXML()
    grants = []
    for grant in acl:
        grantee = grant.find("Grantee")
        permission = grant.findtext("Permission")
        if grant.tag != "Grant" or grantee is None or permission not in PERMISSIONS:
            raise MalformedXML()
        kind = grantee.attrib.get("type", "")
        if kind == "CanonicalUser" and grantee.findtext("ID"):
            grants.append(Grant(kind, grantee.findtext("ID") or "", permission))
        elif kind == "Group" and grantee.findtext("URI") in GROUPS:
            grants.append(Grant(kind, grantee.findtext("URI") or "", permission))
        elif kind == "AmazonCustomerByEmail":
            raise UnresolvableGrantByEmailAddress()
        else:
            raise MalformedXML()
    return owner.strip(), tuple(grants)


def render(owner: str, grants: Iterable[Grant]) -> bytes:
    doc = s3_xml.Doc("AccessControlPolicy").owner(owner).open("AccessControlList")
    for g in grants:
        doc.open("Grant").open(f'Grantee xmlns:xsi="{s3_xml.XSI}" xsi:type="{g.kind}"')
        if g.kind == "Group":
            doc.el("URI", g.grantee)
        else:
            doc.el("ID", g.grantee).el("DisplayName", g.grantee)
        doc.close("Grantee").el("Permission", g.permission).close("Grant")
    return doc.close("AccessControlList").render()


def allows(grants: Iterable[Grant], permission: str, user_id: str) -> bool:
    """Whether a grant gives `permission` to the caller (`user_id` "" when anonymous)."""
    for g in grants:
        if g.permission not in (permission, "FULL_CONTROL"):
            continue
        if g.kind == "Group" and (g.grantee == ALL_USERS or (g.grantee == AUTHENTICATED_USERS and user_id)):
            return True
        if g.kind == "CanonicalUser" and user_id and g.grantee == user_id:
            return True
    return False
