"""ACLs and Object Ownership: Get/PutBucketAcl, Get/PutObjectAcl (per version) and
Get/Put/DeleteBucketOwnershipControls (acl.py, ownership.py).

On a bucket with `BucketOwnerEnforced` (the default) ACLs are off as S3 has them off: reading one
shows the bucket owner with FULL_CONTROL, and setting one is 400 AccessControlListNotSupported
(uploads may still say `private` or `bucket-owner-full-control`: ownership.upload_acl). With `ObjectWriter` or `BucketOwnerPreferred` they are stored and
enforced. PutBucketAcl / PutObjectAcl take the ACL from `x-amz-acl` or `x-amz-grant-*` headers,
else from the AccessControlPolicy body.
"""

from __future__ import annotations

from starlette.responses import Response

from cairn.metadata.models import Bucket, VersioningState

from . import acl, s3_xml
from .context import S3Request
from .errors import (
    AccessControlListNotSupported,
    InvalidArgument,
    InvalidBucketAclWithObjectOwnership,
    MalformedXML,
    S3Error,
)
from .object_headers import version_headers
from .ownership import DELETED, acls_enabled, bucket_grants, stored_ownership
from .router import Op

XML = "application/xml"


class MissingSecurityHeader(S3Error):
    code, status = "MissingSecurityHeader", 400
    default_message = "Your request was missing a required header"


class OwnershipControlsNotFoundError(S3Error):
    code, status = "OwnershipControlsNotFoundError", 404
    default_message = "The bucket ownership controls were not found"


async def _requested(req: S3Request, owner: str, bucket_owner: str) -> acl.Grants:
    """The ACL a Put*Acl request sets: from its headers, else from its body."""
    from_headers = acl.from_headers(req.headers, owner, bucket_owner)
    body = await req.read_body()
    if from_headers is not None:
        return from_headers
    if not body.strip():
        raise MissingSecurityHeader(MissingHeaderName="x-amz-acl")
    _, grants = acl.parse(body)
    return grants


async def get_bucket_acl(req: S3Request) -> Response:
    bucket = await req.bucket()
    enabled = await acls_enabled(req, bucket.name)
    grants = await bucket_grants(req, bucket) if enabled else acl.owner_only(bucket.owner_id)
    return Response(acl.render(bucket.owner_id, grants), media_type=XML)


async def put_bucket_acl(req: S3Request) -> Response:
    bucket = await req.bucket()
    if not await acls_enabled(req, bucket.name):
        raise AccessControlListNotSupported()
    grants = await _requested(req, bucket.owner_id, bucket.owner_id)
    document = acl.encode(grants, bucket.owner_id)
    if document:
        await req.metadata.put_bucket_config(bucket.name, acl.ACL_KIND, document)
    else:
        await req.metadata.delete_bucket_config(bucket.name, acl.ACL_KIND)
    return Response(headers={"content-length": "0"})


async def get_object_acl(req: S3Request) -> Response:
    bucket = await req.bucket()
    version_id = req.query.get("versionId") or None
    v = await req.metadata.get_object(req.bucket_name, req.key, version_id)
    headers = version_headers(v, bucket.versioning != VersioningState.UNVERSIONED) if version_id else {}
    if not await acls_enabled(req, bucket.name):
        body = acl.render(bucket.owner_id, acl.owner_only(bucket.owner_id))
    else:
        owner = v.owner_id or bucket.owner_id
        body = acl.render(owner, acl.decode(v.acl, owner))
    return Response(body, headers=headers, media_type=XML)


async def put_object_acl(req: S3Request) -> Response:
    bucket = await req.bucket()
    version_id = req.query.get("versionId") or None
    if not await acls_enabled(req, bucket.name):
        raise AccessControlListNotSupported()
    v = await req.metadata.get_object(req.bucket_name, req.key, version_id)
    owner = v.owner_id or bucket.owner_id
    grants = await _requested(req, owner, bucket.owner_id)
    stored = await req.metadata.set_object_acl(bucket.name, req.key, acl.encode(grants, owner), version_id)
    headers = {"content-length": "0"}
    if version_id or bucket.versioning != VersioningState.UNVERSIONED:
        headers["x-amz-version-id"] = stored
    return Response(headers=headers)


def _ownership_xml(value: str) -> bytes:
    doc = s3_xml.Doc("OwnershipControls").open("Rule").el("ObjectOwnership", value).close("Rule")
    return doc.render()


def _parse_ownership(body: bytes) -> str:
    root = s3_xml.parse_xml(body)
    rules = root.findall("Rule")
    if root.tag != "OwnershipControls" or len(rules) != 1:
        raise MalformedXML()
    value = (rules[0].findtext("ObjectOwnership") or "").strip()
    if value not in acl.OWNERSHIPS:
        raise MalformedXML()
    return value


async def get_ownership_controls(req: S3Request) -> Response:
    bucket = await req.bucket()
    stored = await stored_ownership(req, bucket.name)
    if stored == DELETED:
        raise OwnershipControlsNotFoundError(BucketName=bucket.name)
    return Response(_ownership_xml(stored), media_type=XML)


async def _check_enforceable(req: S3Request, bucket: Bucket) -> None:
    """BucketOwnerEnforced needs a bucket ACL that grants only its owner."""
    if set(await bucket_grants(req, bucket)) != set(acl.owner_only(bucket.owner_id)):
        raise InvalidBucketAclWithObjectOwnership()


async def put_ownership_controls(req: S3Request) -> Response:
    bucket = await req.bucket()
    value = _parse_ownership(await req.read_body())
    if value == acl.BUCKET_OWNER_ENFORCED:
        await _check_enforceable(req, bucket)
        await req.metadata.delete_bucket_config(bucket.name, acl.OWNERSHIP_KIND)  # the default
    else:
        await req.metadata.put_bucket_config(bucket.name, acl.OWNERSHIP_KIND, value)
    return Response(headers={"content-length": "0"})


async def delete_ownership_controls(req: S3Request) -> Response:
    bucket = await req.bucket()
    await req.metadata.put_bucket_config(bucket.name, acl.OWNERSHIP_KIND, DELETED)
    return Response(status_code=204)


def creation_settings(req: S3Request) -> tuple[str, acl.Grants | None]:
    """CreateBucket's Object Ownership (`x-amz-object-ownership`) and ACL (headers); a bucket
    created with BucketOwnerEnforced accepts no ACL but its owner's (400
    InvalidBucketAclWithObjectOwnership)."""
    value = req.headers.get("x-amz-object-ownership", acl.BUCKET_OWNER_ENFORCED).strip()
    if value not in acl.OWNERSHIPS:
        raise InvalidArgument(
            "Invalid x-amz-object-ownership header",
            ArgumentName="x-amz-object-ownership",
            ArgumentValue=value,
        )
    owner = req.auth.owner_id
    grants = acl.from_headers(req.headers, owner, owner)
    if (
        value == acl.BUCKET_OWNER_ENFORCED
        and grants is not None
        and set(grants) != set(acl.owner_only(owner))
    ):
        raise InvalidBucketAclWithObjectOwnership()
    return value, grants


async def apply_creation_settings(req: S3Request, value: str, grants: acl.Grants | None) -> None:
    """Store what creation_settings asked for, on the bucket just created."""
    if value != acl.BUCKET_OWNER_ENFORCED:
        await req.metadata.put_bucket_config(req.bucket_name, acl.OWNERSHIP_KIND, value)
        document = acl.encode(grants, req.auth.owner_id) if grants is not None else ""
        if document:
            await req.metadata.put_bucket_config(req.bucket_name, acl.ACL_KIND, document)


ACL_HANDLERS = {
    Op.GET_BUCKET_ACL: get_bucket_acl,
    Op.PUT_BUCKET_ACL: put_bucket_acl,
    Op.GET_OBJECT_ACL: get_object_acl,
    Op.PUT_OBJECT_ACL: put_object_acl,
    Op.GET_BUCKET_OWNERSHIP_CONTROLS: get_ownership_controls,
    Op.PUT_BUCKET_OWNERSHIP_CONTROLS: put_ownership_controls,
    Op.DELETE_BUCKET_OWNERSHIP_CONTROLS: delete_ownership_controls,
}
