"""Bucket configuration documents: CORS (Put/Get/DeleteBucketCors, the browser preflight and the
CORS headers of actual requests), tagging (Put/Get/DeleteBucketTagging) and lifecycle
(Put/Get/DeleteBucketLifecycleConfiguration, the `x-amz-expiration` header of PutObject,
CopyObject, CompleteMultipartUpload, GetObject and HeadObject, and `x-amz-abort-date` /
`x-amz-abort-rule-id` on CreateMultipartUpload; the background service runs the rules:
gc/lifecycle.py).

Each configuration is validated when it is put (cors.py) and stored as sent in the metadata
service's bucket configuration of its kind; a GET renders it again from the parsed form, as S3
does (a lifecycle configuration is stored as rendered, with the rule ids made up for rules that had
none). A bucket without one answers the kind's own 404 (NoSuchCORSConfiguration, NoSuchTagSet,
NoSuchLifecycleConfiguration); a PutBucketTagging with an empty tag set removes the tags.

The preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered without
authentication, as S3 answers it: 200 with the first matching rule's headers, 403 AccessForbidden
when the bucket has no CORS configuration or no rule allows the request. Any other request that
carries `Origin` gets the CORS headers of the first rule allowing its origin and method
(`actual_request_headers`, called by the app before authentication so that errors carry them too).
"""

from __future__ import annotations

from functools import lru_cache

from starlette.responses import Response

from cairn.metadata import errors as md
from cairn.metadata.models import ObjectVersion

from . import cors, lifecycle, tagging
from .context import S3Request, Services
from .errors import (
    AccessForbidden,
    BadRequest,
    NoSuchCORSConfiguration,
    NoSuchLifecycleConfiguration,
    NoSuchTagSet,
    S3Error,
)
from .router import Endpoint, Op

XML = "application/xml"
CORS = "cors"
TAGGING = "tagging"
LIFECYCLE = "lifecycle"
NO_CORS = "CORSResponse: CORS is not enabled for this bucket."
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
    "whitelisted by the resource's CORS spec."
)


async def _document(req: S3Request, kind: str, missing: type[S3Error]) -> str:
    await req.bucket()
    try:
        return (await req.metadata.get_bucket_config(req.bucket_name, kind)).document
    except md.NoSuchBucketConfig:
        raise missing() from None


async def _delete(req: S3Request, kind: str) -> Response:
    await req.bucket()
    await req.metadata.delete_bucket_config(req.bucket_name, kind)
    return Response(status_code=204)


# --- CORS ---------------------------------------------------------------------------------
@lru_cache(maxsize=256)
def _parsed_cors(document: str) -> cors.CorsConfig:
    return cors.parse(document.encode())


async def put_bucket_cors(req: S3Request) -> Response:
    await req.bucket()
    body = await req.read_body(cors.MAX_DOCUMENT_BYTES + 1)
    cors.parse(body)
    await req.metadata.put_bucket_config(req.bucket_name, CORS, body.decode())
    return Response(status_code=200)


async def get_bucket_cors(req: S3Request) -> Response:
    document = await _document(req, CORS, NoSuchCORSConfiguration)
    return Response(cors.render(_parsed_cors(document)), media_type=XML)


async def delete_bucket_cors(req: S3Request) -> Response:
    return await _delete(req, CORS)


async def _bucket_cors(services: Services, bucket: str) -> cors.CorsConfig | None:
    try:
        config = await services.metadata.get_bucket_config(bucket, CORS)
    except (md.NoSuchBucket, md.NoSuchBucketConfig):
        return None
    return _parsed_cors(config.document)


async def preflight(services: Services, endpoint: Endpoint, headers: dict[str, str]) -> Response:
    """An unauthenticated OPTIONS request (see the module docstring)."""
    origin = headers.get("origin")
    if not origin:
        raise BadRequest("Insufficient information. Origin request header needed.")
    method = headers.get("access-control-request-method", "")
    if method not in cors.METHODS:
        raise BadRequest(f"Invalid Access-Control-Request-Method: {method or 'null'}")
    await services.metadata.get_bucket(endpoint.bucket)  # NoSuchBucket
    resource = "OBJECT" if endpoint.key else "BUCKET"
    config = await _bucket_cors(services, endpoint.bucket)
    if config is None:
        raise AccessForbidden(NO_CORS, Method=method, ResourceType=resource)
    requested = cors.request_headers(headers.get("access-control-request-headers"))
    found = config.match(origin, method, requested)
    if found is None:
        raise AccessForbidden(NOT_ALLOWED, Method=method, ResourceType=resource)
    rule, matched = found
    return Response(status_code=200, headers=cors.headers_for(rule, matched, origin, requested))


async def actual_request_headers(
    services: Services, endpoint: Endpoint, method: str, headers: dict[str, str]
) -> dict[str, str]:
    """The CORS headers of a non-preflight request (none without `Origin` or a configuration)."""
    origin = headers.get("origin")
    if not origin or not endpoint.bucket or endpoint.op is Op.CORS_PREFLIGHT:
        return {}
    config = await _bucket_cors(services, endpoint.bucket)
    if config is None:
        return {}
    found = config.match(origin, method)
    if found is None:
        return {"vary": cors.VARY}
    return cors.headers_for(found[0], found[1], origin)


# --- tagging ------------------------------------------------------------------------------
def _bucket_tags(body: bytes) -> tagging.Tags:
    return tagging.parse(body, tagging.MAX_BUCKET_TAGS, "Bucket")


async def put_bucket_tagging(req: S3Request) -> Response:
    await req.bucket()
    body = await req.read_body()
    if not _bucket_tags(body):
        await req.metadata.delete_bucket_config(req.bucket_name, TAGGING)
    else:
        await req.metadata.put_bucket_config(req.bucket_name, TAGGING, body.decode())
    return Response(status_code=204)


async def get_bucket_tagging(req: S3Request) -> Response:
    document = await _document(req, TAGGING, NoSuchTagSet)
    return Response(tagging.render(_bucket_tags(document.encode())), media_type=XML)


async def delete_bucket_tagging(req: S3Request) -> Response:
    return await _delete(req, TAGGING)


# --- lifecycle ----------------------------------------------------------------------------
@lru_cache(maxsize=256)
def _parsed_lifecycle(document: str) -> lifecycle.LifecycleConfig:
    return lifecycle.parse(document.encode())


async def put_bucket_lifecycle(req: S3Request) -> Response:
    await req.bucket()
    document = lifecycle.render(lifecycle.parse(await req.read_body()))
    await req.metadata.put_bucket_config(req.bucket_name, LIFECYCLE, document.decode())
    return Response(status_code=200)


async def get_bucket_lifecycle(req: S3Request) -> Response:
    document = await _document(req, LIFECYCLE, NoSuchLifecycleConfiguration)
    return Response(document, media_type=XML)


async def delete_bucket_lifecycle(req: S3Request) -> Response:
    return await _delete(req, LIFECYCLE)


async def bucket_lifecycle(req: S3Request) -> lifecycle.LifecycleConfig | None:
    document = (await req.bucket_context()).config(LIFECYCLE)
    return None if document is None else _parsed_lifecycle(document)


def expiration_headers(config: lifecycle.LifecycleConfig | None, v: ObjectVersion) -> dict[str, str]:
    """`x-amz-expiration` for a current version an enabled rule expires ({} otherwise)."""
    if config is None or not v.is_latest or v.is_delete_marker:
        return {}
    return lifecycle.expiration(config, v.key, v.size, v.tags, v.last_modified_ms)


BUCKET_CONFIG_HANDLERS = {
    Op.GET_BUCKET_LIFECYCLE: get_bucket_lifecycle,
    Op.PUT_BUCKET_LIFECYCLE: put_bucket_lifecycle,
    Op.DELETE_BUCKET_LIFECYCLE: delete_bucket_lifecycle,
    Op.GET_BUCKET_TAGGING: get_bucket_tagging,
    Op.PUT_BUCKET_TAGGING: put_bucket_tagging,
    Op.DELETE_BUCKET_TAGGING: delete_bucket_tagging,
    Op.GET_BUCKET_CORS: get_bucket_cors,
    Op.PUT_BUCKET_CORS: put_bucket_cors,
    Op.DELETE_BUCKET_CORS: delete_bucket_cors,
}
