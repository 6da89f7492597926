"""A bucket's Object Ownership and ACLs as the metadata service stores them, read when needed.

The bucket configuration `ownership` holds the setting (absent: `BucketOwnerEnforced`, S3's
default for new buckets; `DELETED` after DeleteBucketOwnershipControls, which behaves as
`ObjectWriter`), the configuration `acl` the bucket's grants (absent: the owner's FULL_CONTROL),
and each object version its own grants (`ObjectVersion.acl`, acl.py's stored form). Reads are
cached for the request in `S3Request.policies`.

ACLs take effect only on buckets whose ownership is not `BucketOwnerEnforced`; there they are
consulted by access.authorize when no policy allowed the request (`acl_allows`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.metadata import errors as md
from cairn.metadata.models import Bucket

from . import acl
from .errors import AccessControlListNotSupported

if TYPE_CHECKING:
    from .context import S3Request

DELETED = "DELETED"
"""The `ownership` document of a bucket whose ownership controls were deleted."""


async def _config(req: S3Request, bucket: str, kind: str) -> str | None:
    return (await req.bucket_context(bucket)).config(kind)


async def stored_ownership(req: S3Request, bucket: str) -> str:
    """The stored setting: one of acl.OWNERSHIPS, or DELETED."""
    return await _config(req, bucket, acl.OWNERSHIP_KIND) or acl.BUCKET_OWNER_ENFORCED


async def ownership_of(req: S3Request, bucket: str) -> str:
    """The Object Ownership in effect: one of acl.OWNERSHIPS."""
    stored = await stored_ownership(req, bucket)
    return acl.OBJECT_WRITER if stored == DELETED else stored


async def acls_enabled(req: S3Request, bucket: str) -> bool:
    return await ownership_of(req, bucket) != acl.BUCKET_OWNER_ENFORCED


async def bucket_grants(req: S3Request, bucket: Bucket) -> acl.Grants:
    return acl.decode(await _config(req, bucket.name, acl.ACL_KIND) or "", bucket.owner_id)


async def upload_acl(req: S3Request, bucket: Bucket, headers: dict[str, str]) -> tuple[str, str]:
    """(owner id, stored ACL) of an object this request writes, from its `x-amz-acl` /
    `x-amz-grant-*` headers and the bucket's Object Ownership: with `BucketOwnerEnforced` the
    bucket owner owns it and only a private ACL is accepted (else 400
    AccessControlListNotSupported); with `BucketOwnerPreferred` the bucket owner owns it when it
    is written with `bucket-owner-full-control`; otherwise the writer owns it (the bucket owner
    for an anonymous writer)."""
    writer = req.auth.owner_id or bucket.owner_id
    asks = "x-amz-acl" in headers or any(name.startswith("x-amz-grant-") for name in headers)
    if writer == bucket.owner_id and not asks:
        return writer, ""  # the same answer under every ownership setting
    mode = await ownership_of(req, bucket.name)
    if mode == acl.BUCKET_OWNER_ENFORCED:
        if not acl.is_private(headers):
            raise AccessControlListNotSupported()
        return bucket.owner_id, ""
    owner = writer
    if (
        mode == acl.BUCKET_OWNER_PREFERRED
        and headers.get("x-amz-acl", "").strip() == "bucket-owner-full-control"
    ):
        owner = bucket.owner_id
    grants = acl.from_headers(headers, owner, bucket.owner_id) or acl.owner_only(owner)
    return owner, acl.encode(grants, owner)


async def acl_allows(req: S3Request, bucket: Bucket, action: str, key: str, version_id: str | None) -> bool:
    """Whether the bucket's or the object's ACL grants the caller `action` (never on a bucket
    with ACLs disabled)."""
    object_permission = acl.OBJECT_PERMISSION.get(action) if key else None
    bucket_permission = acl.BUCKET_PERMISSION.get(action)
    if object_permission is None and bucket_permission is None:
        return False
    if not await acls_enabled(req, bucket.name):
        return False
    user_id = req.auth.owner_id
    if object_permission is not None:
        try:
            version = await req.metadata.get_object(bucket.name, key, version_id)
        except (md.NoSuchKey, md.NoSuchVersion, md.MethodNotAllowed):
            return False
        grants = acl.decode(version.acl, version.owner_id or bucket.owner_id)
        return acl.allows(grants, object_permission, user_id)
    assert bucket_permission is not None
    return acl.allows(await bucket_grants(req, bucket), bucket_permission, user_id)
