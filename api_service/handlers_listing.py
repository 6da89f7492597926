"""Listing operations: ListObjects (V1), ListObjectsV2, ListObjectVersions, ListMultipartUploads."""

from __future__ import annotations

from starlette.responses import Response

from . import s3_xml
from .context import S3Request
from .errors import InvalidArgument
from .router import Op

XML = "application/xml"


def _params(req: S3Request, marker: str, token: str, max_name: str = "max-keys") -> s3_xml.ListParams:
    encoding = req.query.get("encoding-type", "")
    if encoding not in ("", "url"):
        raise InvalidArgument("Invalid Encoding Method specified in Request", ArgumentName="encoding-type")
    return s3_xml.ListParams(
        prefix=req.query.get("prefix", ""),
        delimiter=req.query.get("delimiter", ""),
        max_keys=req.int_query(max_name, 1000, 0, 2**31 - 1),
        encoding_type=encoding,
        marker=req.query.get(marker, ""),
        token=req.query.get(token, ""),
        fetch_owner=req.query.get("fetch-owner", "").lower() == "true",
    )


async def list_objects_v1(req: S3Request) -> Response:
    await req.bucket()
    p = _params(req, "marker", "")
    page = await req.metadata.list_objects_v1(
        req.bucket_name,
        prefix=p.prefix,
        delimiter=p.delimiter,
        max_keys=min(p.max_keys, 1000),
        marker=p.marker,
    )
    return Response(s3_xml.list_objects_v1(req.bucket_name, p, page), media_type=XML)


async def list_objects_v2(req: S3Request) -> Response:
    await req.bucket()
    p = _params(req, "start-after", "continuation-token")  # an empty token is no token, as in S3
    page = await req.metadata.list_objects_v2(
        req.bucket_name,
        prefix=p.prefix,
        delimiter=p.delimiter,
        max_keys=min(p.max_keys, 1000),
        continuation_token=p.token or None,
        start_after=p.marker,
        fetch_owner=p.fetch_owner,
    )
    return Response(s3_xml.list_objects_v2(req.bucket_name, p, page), media_type=XML)


async def list_object_versions(req: S3Request) -> Response:
    await req.bucket()
    p = _params(req, "key-marker", "version-id-marker")
    page = await req.metadata.list_object_versions(
        req.bucket_name,
        prefix=p.prefix,
        delimiter=p.delimiter,
        max_keys=min(p.max_keys, 1000),
        key_marker=p.marker,
        version_id_marker=p.token,
    )
    return Response(s3_xml.list_versions(req.bucket_name, p, page), media_type=XML)


async def list_multipart_uploads(req: S3Request) -> Response:
    await req.bucket()
    p = _params(req, "key-marker", "upload-id-marker", max_name="max-uploads")
    page = await req.metadata.list_multipart_uploads(
        req.bucket_name,
        prefix=p.prefix,
        delimiter=p.delimiter,
        max_uploads=min(p.max_keys, 1000),
        key_marker=p.marker,
        upload_id_marker=p.token,
    )
    return Response(s3_xml.list_uploads(req.bucket_name, p, page), media_type=XML)


LISTING_HANDLERS = {
    Op.LIST_OBJECTS: list_objects_v1,
    Op.LIST_OBJECTS_V2: list_objects_v2,
    Op.LIST_OBJECT_VERSIONS: list_object_versions,
    Op.LIST_MULTIPART_UPLOADS: list_multipart_uploads,
}
