"""The one authorization step of every S3 request: which action on which resource, by whom, and
what the bucket policy and the caller's user policies say about it.

`S3Request.bucket()` calls `authorize` for the request's own operation (action from
`action_for`, resource the bucket or object ARN); CopyObject/UploadPartCopy authorize their source
with `s3:GetObject`; DeleteObjects authorizes each key with `s3:DeleteObject` (`denied_objects`);
ListBuckets and CreateBucket, which touch no existing bucket, go through `authorize_account`.

The decision itself is `policy.decide` (pure); when no policy allows a request, the bucket's or
the object's ACL may (ownership.acl_allows: only on buckets whose ACLs are enabled). The policies come from the metadata service on each
request (a bucket policy change takes effect on the next request); user policies are read only
for authenticated non-root callers, and the object's tags only when a policy asks for
`s3:ExistingObjectTag/<key>`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from cairn.metadata import errors as md
from cairn.metadata.models import Bucket

from . import ownership
from .errors import AccessDenied
from .policy import PolicyDoc, Principal, RequestContext, decide, parse_policy

if TYPE_CHECKING:
    from .context import S3Request

# Operation name -> IAM action name, where they differ ("s3:" + the operation name otherwise).
_ACTIONS = {
    "HeadBucket": "ListBucket",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "ListBuckets": "ListAllMyBuckets",
    "HeadObject": "GetObject",
    "CopyObject": "PutObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "UploadPartCopy": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "PostObject": "PutObject",
    "ListParts": "ListMultipartUploadParts",
    "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "PutBucketObjectLockConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketCors": "GetBucketCORS",
    "PutBucketCors": "PutBucketCORS",
    "DeleteBucketCors": "PutBucketCORS",
    "DeleteBucketTagging": "PutBucketTagging",
    "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
}
# Actions with a separate name when the request names a version (`?versionId=`).
_VERSION_ACTIONS = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "s3:GetObjectAttributes": "s3:GetObjectVersionAttributes",
}
_LISTING_KEYS = {"prefix": "s3:prefix", "delimiter": "s3:delimiter", "max-keys": "s3:max-keys"}
_HEADER_KEYS = (
    "x-amz-acl",
    "x-amz-content-sha256",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-storage-class",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
)


def action_for(operation: str, versioned: bool = False) -> str:
    """The IAM action of an S3 operation (by its name, e.g. `GetObject`)."""
    action = "s3:" + _ACTIONS.get(operation, operation)
    return _VERSION_ACTIONS.get(action, action) if versioned else action


def arn(bucket: str, key: str = "") -> str:
    return f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"


def principal_of(req: S3Request) -> Principal:
    auth = req.auth
    if auth.anonymous:
        return Principal()
    account = auth.arn.split(":")[4] if auth.arn.count(":") >= 5 else ""
    return Principal(auth.arn, auth.owner_id, auth.user_name, account, auth.is_root)


def condition_keys(req: S3Request, who: Principal, now: datetime) -> dict[str, tuple[str, ...]]:
    """The condition keys of this request (lower-case names); absent keys are left out."""
    keys: dict[str, tuple[str, ...]] = {
        "aws:securetransport": ("true" if req.secure else "false",),
        "aws:currenttime": (now.strftime("%Y-%m-%dT%H:%M:%SZ"),),
        "aws:epochtime": (str(int(now.timestamp())),),
    }
    if req.client_ip:
        keys["aws:sourceip"] = (req.client_ip,)
    for header, name in (("user-agent", "aws:useragent"), ("referer", "aws:referer")):
        if header in req.headers:
            keys[name] = (req.headers[header],)
    if not who.anonymous:
        keys["aws:username"] = (who.user_name,)
        keys["aws:userid"] = (who.user_id,)
        keys["aws:principalarn"] = (who.arn,)
        keys["aws:principalaccount"] = (who.account,)
        keys["aws:principaltype"] = ("Account" if who.is_root else "User",)
        keys["s3:authtype"] = ("REST-QUERY-STRING" if req.auth.presigned else "REST-HEADER",)
        keys["s3:signatureversion"] = ("AWS4-HMAC-SHA256" if req.auth.signing is not None else "AWS",)
    for header in _HEADER_KEYS:
        if header in req.headers:
            keys["s3:" + header] = (req.headers[header].strip(),)
    if not req.key:
        for name, key in _LISTING_KEYS.items():
            if name in req.query:
                keys[key] = (req.query[name],)
    if req.query.get("versionId"):
        keys["s3:versionid"] = (req.query["versionId"],)
    return keys


@lru_cache(maxsize=1024)
def _parsed(document: str, bucket: str | None) -> PolicyDoc:
    return parse_policy(document, bucket=bucket)


async def _bucket_policy(req: S3Request, bucket: str) -> PolicyDoc | None:
    document = (await req.bucket_context(bucket)).policy
    return None if document is None else _parsed(document, bucket)


def _has_user_policies(who: Principal) -> bool:
    """Whether `who` may have IAM user policies to read (the root user and anonymous callers
    have none)."""
    return not (who.anonymous or who.is_root)


async def _user_policies(req: S3Request, who: Principal) -> tuple[PolicyDoc, ...]:
    if not _has_user_policies(who):
        return ()
    policies = await req.metadata.list_user_policies(who.user_name)
    return tuple(_parsed(p.document, None) for p in policies)


async def _policies(req: S3Request, bucket: str | None) -> tuple[PolicyDoc | None, tuple[PolicyDoc, ...]]:
    """The bucket policy and the caller's user policies, read once per request."""
    cache_key = bucket or ""
    cached = req.policies.get(cache_key)
    if cached is None:
        who = principal_of(req)
        if bucket is None:
            cached = (None, await _user_policies(req, who))
        elif not _has_user_policies(who):  # one read, nothing to run beside it
            cached = (await _bucket_policy(req, bucket), ())
        else:
            cached = tuple(await asyncio.gather(_bucket_policy(req, bucket), _user_policies(req, who)))
        req.policies[cache_key] = cached
    return cached  # type: ignore[return-value]


async def prefetch(req: S3Request, bucket: str) -> None:
    """Read the policies `authorize` will need: the bucket's context (which holds its policy)
    beside the caller's user policies, if the caller can have any (S3Request.bucket() runs this
    first, so authorization costs no extra round trip in sequence)."""
    await _policies(req, bucket)


async def authorize(
    req: S3Request,
    bucket: Bucket,
    *,
    action: str | None = None,
    key: str | None = None,
    version_id: str | None = None,
) -> None:
    """Raise AccessDenied unless the caller may take `action` (default: the request's own) on
    `key` of `bucket` (default: the request's key; "" for the bucket itself)."""
    if key is None:
        key = req.key
    if action is None and req.endpoint.op.value == "DeleteObjects":
        return  # no action of its own: the handler authorizes s3:DeleteObject for each key
    if action is None:
        version_id = req.query.get("versionId") or None
        action = action_for(req.endpoint.op.value, versioned=version_id is not None)
    bucket_policy, user_policies = await _policies(req, bucket.name)
    who = principal_of(req)
    every = (*user_policies, *((bucket_policy,) if bucket_policy else ()))
    keys = condition_keys(req, who, req.services.clock()) if every else {}  # only policies read them
    if key and any(p.mentions("s3:existingobjecttag/") for p in every):
        keys.update(await _existing_tags(req, bucket.name, key, version_id))
    ctx = RequestContext(who, action, arn(bucket.name, key), keys)
    owns = not who.anonymous and who.user_id == bucket.owner_id
    if decide(ctx, owns=owns, bucket_policy=bucket_policy, user_policies=user_policies):
        return
    # No policy allowed it: an ACL grant may, unless a policy denies it explicitly.
    if not await ownership.acl_allows(req, bucket, action, key, version_id) or not decide(
        ctx, owns=owns, bucket_policy=bucket_policy, user_policies=user_policies, acl_allows=True
    ):
        raise AccessDenied()


async def denied_objects(
    req: S3Request, bucket: Bucket, objects: Sequence[tuple[str, str | None]]
) -> set[tuple[str, str | None]]:
    """DeleteObjects: the (key, version id) pairs the caller may not delete
    (`s3:DeleteObject`, or `s3:DeleteObjectVersion` with a version id)."""
    denied: set[tuple[str, str | None]] = set()
    for key, version_id in objects:
        action = action_for("DeleteObject", versioned=version_id is not None)
        try:
            await authorize(req, bucket, action=action, key=key, version_id=version_id)
        except AccessDenied:
            denied.add((key, version_id))
    return denied


async def authorize_account(req: S3Request) -> None:
    """ListBuckets and CreateBucket: any signed-in caller, unless a user policy denies it."""
    who = principal_of(req)
    if who.anonymous:
        raise AccessDenied()
    _, user_policies = await _policies(req, None)
    keys = condition_keys(req, who, req.services.clock()) if user_policies else {}
    resource = arn(req.bucket_name) if req.bucket_name else "*"
    ctx = RequestContext(who, action_for(req.endpoint.op.value), resource, keys)
    if not decide(ctx, owns=True, bucket_policy=None, user_policies=user_policies):
        raise AccessDenied()


async def _existing_tags(
    req: S3Request, bucket: str, key: str, version_id: str | None
) -> dict[str, tuple[str, ...]]:
    try:
        version = await req.metadata.get_object(bucket, key, version_id)
    except (md.NoSuchKey, md.NoSuchVersion):
        return {}
    return {f"s3:existingobjecttag/{name.lower()}": (value,) for name, value in version.tags}
