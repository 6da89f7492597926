"""Service and bucket operations: ListBuckets, Create/Head/Delete bucket, location, versioning."""

from __future__ import annotations

import base64

from starlette.responses import Response

from cairn.metadata import errors as md
from cairn.metadata.models import VersioningState

from . import s3_xml
from .context import S3Request
from .errors import InvalidArgument, InvalidBucketName, InvalidLocationConstraint
from .handlers_acl import apply_creation_settings, creation_settings
from .object_headers import refuse_unsupported_features
from .observability import RESERVED_BUCKET
from .router import Op

XML = "application/xml"


async def list_buckets(req: S3Request) -> Response:
    """The caller's buckets by name (root: all), filtered by `prefix` and `bucket-region`; with
    `max-buckets` (1-10000) a page at a time, resumed from `continuation-token` (opaque: the last
    name of the previous page)."""
    owner = None if req.auth.is_root else req.auth.owner_id
    prefix = req.query.get("prefix", "")
    region = req.query.get("bucket-region", "")
    buckets = [
        b
        for b in sorted(await req.metadata.list_buckets(owner), key=lambda b: b.name)
        if b.name.startswith(prefix) and (not region or (b.region or req.services.config.region) == region)
    ]
    token = req.query.get("continuation-token", "")
    if token:
        after = _token_name(token)
        buckets = [b for b in buckets if b.name > after]
    limit = req.int_query("max-buckets", 10000, 1, 10000)
    page, more = buckets[:limit], len(buckets) > limit
    next_token = _name_token(page[-1].name) if more else None
    body = s3_xml.list_buckets(page, req.auth.owner_id, next_token, prefix if "prefix" in req.query else None)
    return Response(body, media_type=XML)


def _name_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _token_name(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(
            "The continuation token provided is incorrect", ArgumentName="continuation-token"
        ) from None


async def create_bucket(req: S3Request) -> Response:
    # an object-lock bucket must not be created silently
    refuse_unsupported_features(req.headers)
    ownership, grants = creation_settings(req)
    if req.bucket_name == RESERVED_BUCKET:
        raise InvalidBucketName(
            f"The bucket name {RESERVED_BUCKET} is reserved for /{RESERVED_BUCKET}/metrics and /{RESERVED_BUCKET}/health.",
            BucketName=RESERVED_BUCKET,
        )
    region = req.services.config.region
    constraint = s3_xml.parse_create_bucket(await req.read_body())
    if constraint and constraint != region and not (constraint == "US" and region == "us-east-1"):
        raise InvalidLocationConstraint(LocationConstraint=constraint)
    try:
        await req.metadata.create_bucket(req.bucket_name, req.auth.owner_id, region=region)
    except md.BucketAlreadyOwnedByYou:
        if region != "us-east-1":  # us-east-1 answers 200 to re-creating your own bucket
            raise
    else:
        await apply_creation_settings(req, ownership, grants)
    return Response(headers={"location": f"/{req.bucket_name}", "content-length": "0"})


async def head_bucket(req: S3Request) -> Response:
    bucket = await req.bucket()
    return Response(
        headers={"x-amz-bucket-region": bucket.region or req.services.config.region, "content-length": "0"}
    )


async def delete_bucket(req: S3Request) -> Response:
    await req.bucket()
    await req.metadata.delete_bucket(req.bucket_name)
    return Response(status_code=204)


async def get_bucket_location(req: S3Request) -> Response:
    bucket = await req.bucket()
    return Response(s3_xml.location_constraint(bucket.region or req.services.config.region), media_type=XML)


async def get_bucket_versioning(req: S3Request) -> Response:
    bucket = await req.bucket()
    return Response(s3_xml.versioning_configuration(str(bucket.versioning)), media_type=XML)


async def put_bucket_versioning(req: S3Request) -> Response:
    await req.bucket()
    status = s3_xml.parse_versioning(await req.read_body())
    await req.metadata.set_bucket_versioning(req.bucket_name, VersioningState(status))
    return Response(headers={"content-length": "0"})


BUCKET_HANDLERS = {
    Op.LIST_BUCKETS: list_buckets,
    Op.CREATE_BUCKET: create_bucket,
    Op.HEAD_BUCKET: head_bucket,
    Op.DELETE_BUCKET: delete_bucket,
    Op.GET_BUCKET_LOCATION: get_bucket_location,
    Op.GET_BUCKET_VERSIONING: get_bucket_versioning,
    Op.PUT_BUCKET_VERSIONING: put_bucket_versioning,
}
