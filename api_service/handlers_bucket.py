"""Service and bucket operations: ListBuckets, Create/Head/Delete bucket, location, versioning."""

from __future__ import annotations

from starlette.responses import Response

from cairn.metadata import errors as md
from cairn.metadata.models import VersioningState

from . import s3_xml
from .context import S3Request
from .errors import InvalidBucketName, InvalidLocationConstraint
from .handlers_acl import apply_creation_settings, creation_settings
from .object_headers import refuse_unsupported_features
from .observability import RESERVED_BUCKET
from .router import Op

XML = "application/xml"


async def list_buckets(req: S3Request) -> Response:
    owner = None if req.auth.is_root else req.auth.owner_id
    buckets = await req.metadata.list_buckets(owner)
    return Response(s3_xml.list_buckets(buckets, req.auth.owner_id), media_type=XML)


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
