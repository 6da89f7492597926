"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterable, AsyncIterator

from starlette.responses import Response, StreamingResponse

from cairn.blobs import BlobRef
from cairn.metadata.models import NOT_ENCRYPTED, Encryption, ObjectAttrs, ObjectVersion, VersioningState

from . import access, copy_source, ownership, s3_xml, sse, tagging
from .context import S3Request
from .error_mapping import to_s3_error
from .errors import (
    AccessDenied,
    EntityTooLarge,
    InvalidArgument,
    InvalidPartNumber,
    InvalidRequest,
    MissingContentLength,
    S3Error,
)
from .errors import (
    NotImplemented as S3NotImplemented,
)
from .handlers_bucket_config import bucket_lifecycle, expiration_headers
from .http_ranges import ByteRange, check_conditions, parse_range
from .ingest import Ingest
from .object_headers import (
    attrs_from_headers,
    check_key,
    checksum_elements,
    checksum_headers,
    object_headers,
    refuse_anonymous_overrides,
    refuse_unsupported_features,
    version_headers,
)
from .router import Op

XML = "application/xml"


def declared_size(req: S3Request) -> int | None:
    """The upload's size as announced (decoded length for aws-chunked bodies), or None. The one
    place that reads it; the body is held to it by the HTTP server (Content-Length) and by
    sigv4.VerifiedBody (x-amz-decoded-content-length)."""
    if req.auth.decoded_length is not None:
        return req.auth.decoded_length
    raw = req.headers.get("content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidArgument("Content-Length is not a number", ArgumentName="Content-Length") from None


async def store_upload(
    req: S3Request,
    key: str,
    part_number: int = 0,
    default_algorithm: str = "",
    encryption: Encryption = NOT_ENCRYPTED,
) -> tuple[tuple[BlobRef, ...], Ingest]:
    """Stream the request body into one new blob, verifying every digest; () blobs for an empty body."""
    size = declared_size(req)
    if size is None and not req.auth.payload_mode.streaming:
        if "transfer-encoding" in req.headers:  # HTTP chunked without aws-chunked: S3 answers 501
            raise S3NotImplemented(Header="Transfer-Encoding")
        raise MissingContentLength()
    limit = req.services.config.max_put_size
    if size is not None and size > limit:
        raise EntityTooLarge(ProposedSize=size, MaxSizeAllowed=limit)
    ingest = Ingest(
        req.body(),
        req.headers,
        max_size=limit,
        trailer_names=req.auth.trailer_names,
        default_algorithm=default_algorithm,
    )
    return await write_stream(req, key, ingest, size == 0, part_number, encryption), ingest


async def write_stream(
    req: S3Request,
    key: str,
    stream: AsyncIterable[bytes],
    empty: bool,
    part_number: int = 0,
    encryption: Encryption = NOT_ENCRYPTED,
) -> tuple[BlobRef, ...]:
    """Store the (verified plaintext) `stream` as one blob, sealed first when `encryption` asks."""
    if empty:  # nothing to store, but the (empty) body is still verified
        async for _ in stream:
            raise InvalidRequest("The body is longer than its declared length.")
        return ()
    sealed_key = b""
    if encryption.algorithm:
        identity = sse.Identity(req.bucket_name, key, part_number)
        stream, sealed_key = await sse.encrypting(req, encryption, stream, identity)
    ref = await req.services.blobs.write(req.bucket_name, key, stream, part_number)
    return sse.seal_blobs((ref,), sealed_key) if sealed_key else (ref,)


@dataclasses.dataclass(frozen=True, slots=True)
class WriteConditions:
    """A conditional write's If-Match ETag (unquoted) and If-None-Match: *."""

    if_match: str | None = None
    if_none_match: bool = False


def conditional_write(req: S3Request) -> WriteConditions:
    """S3 takes If-None-Match only as `*` and never with If-Match: anything else is 501, as there."""
    if_none_match = "if-none-match" in req.headers
    if if_none_match and (req.headers["if-none-match"].strip() != "*" or "if-match" in req.headers):
        raise S3NotImplemented(Header="If-None-Match")
    if_match = req.headers["if-match"].strip().strip('"') if "if-match" in req.headers else None
    return WriteConditions(if_match, if_none_match)


async def put_object(req: S3Request) -> Response:
    bucket = await req.bucket()
    check_key(req.key)
    refuse_unsupported_features(req.headers)
    owner, acl = await ownership.upload_acl(req, bucket, req.headers)
    attrs = attrs_from_headers(req.headers, owner, req.services.config.max_metadata_size, acl)
    conditions = conditional_write(req)
    encryption = await sse.requested(req)
    blobs, ingest = await store_upload(req, req.key, encryption=encryption)
    checksums = (ingest.checksum,) if ingest.checksum else ()
    etag = sse.etag(encryption, ingest.etag)
    attrs = dataclasses.replace(
        attrs, size=ingest.size, etag=etag, checksums=checksums, blobs=blobs, encryption=encryption
    )
    version = await req.metadata.put_object(
        req.bucket_name, req.key, attrs, if_match=conditions.if_match, if_none_match=conditions.if_none_match
    )
    headers = {"etag": f'"{version.etag}"', "content-length": "0", **checksum_headers(checksums, 0)}
    headers.update(sse.response_headers(encryption, req))
    headers.update(version_headers(version, bucket.versioning != VersioningState.UNVERSIONED))
    headers.update(expiration_headers(await bucket_lifecycle(req), version))
    return Response(headers=headers)


async def _read(req: S3Request, head: bool) -> Response:
    bucket = await req.bucket()
    version_id = req.query.get("versionId")
    v, rules = await asyncio.gather(
        req.metadata.get_object(req.bucket_name, req.key, version_id or None), bucket_lifecycle(req)
    )
    customer = sse.key_for_read(req, v)
    refuse_anonymous_overrides(req.query, req.auth.anonymous)
    versioned = bucket.versioning != VersioningState.UNVERSIONED
    try:
        check_conditions(req.headers, v.etag, v.last_modified_ms)
    except S3Error as error:
        if error.status == 304:
            error.with_headers({"etag": f'"{v.etag}"', **version_headers(v, versioned)})
        raise
    byte_range = (
        _part_range(req, v) if "partNumber" in req.query else parse_range(req.headers.get("range"), v.size)
    )
    full = byte_range is None
    want_checksums = req.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED" and full
    headers = object_headers(v, req.query, versioned_bucket=versioned, with_checksums=want_checksums)
    headers.update(expiration_headers(rules, v))
    headers.update(sse.response_headers(v.encryption, req))
    start, end = (0, v.size - 1) if byte_range is None else (byte_range.start, byte_range.end)
    status = 200
    if byte_range is not None:
        status = 206
        headers["content-range"] = byte_range.content_range(v.size)
    length = end - start + 1 if v.size else 0
    headers["content-length"] = str(length)
    if head or length == 0:
        return Response(status_code=status, headers=headers)
    if all(b.is_inline for b in v.blobs):  # the bytes are in hand: no stream to run
        plain = sse.read_plain(req, v, start, end, customer)
        return Response(b"".join([piece async for piece in plain]), status_code=status, headers=headers)
    body = await _primed(sse.read_plain(req, v, start, end, customer))
    return StreamingResponse(body, status_code=status, headers=headers)


async def _primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Read the first chunk before any header is sent, so an object whose first stripe cannot
    be reconstructed answers 503 instead of a 200 that breaks off. (A failure in a later
    stripe can only cut the connection short: never wrong bytes.)"""
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    except BaseException:
        await chunks.aclose()  # type: ignore[attr-defined]
        raise

    async def rest() -> AsyncIterator[bytes]:
        try:
            yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    return rest()


def _part_range(req: S3Request, v: ObjectVersion) -> ByteRange | None:
    if "range" in req.headers:
        raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
    number = req.int_query("partNumber", 1, 1, 10000)
    if not v.parts_count:
        if number != 1:
            raise InvalidPartNumber(PartNumberRequested=number, ActualPartCount=1)
        return None
    sizes = v.part_sizes
    if number > len(sizes) or sizes[number - 1] == 0:
        raise InvalidPartNumber(PartNumberRequested=number, ActualPartCount=len(sizes))
    start = sum(sizes[: number - 1])
    return ByteRange(start, start + sizes[number - 1] - 1)


async def get_object(req: S3Request) -> Response:
    return await _read(req, head=False)


async def head_object(req: S3Request) -> Response:
    return await _read(req, head=True)


async def delete_object(req: S3Request) -> Response:
    await req.bucket()
    result = await req.metadata.delete_object(req.bucket_name, req.key, req.query.get("versionId") or None)
    headers = {}
    if result.version_id:
        headers["x-amz-version-id"] = result.version_id
    if result.is_delete_marker:
        headers["x-amz-delete-marker"] = "true"
    return Response(status_code=204, headers=headers)


#: DeleteObjects deletes this many keys at a time (up to 1000 per request, one metadata RPC each).
DELETE_CONCURRENCY = 32


async def delete_objects(req: S3Request) -> Response:
    bucket = await req.bucket()
    request = s3_xml.parse_delete(await req.read_body())
    denied = await access.denied_objects(req, bucket, request.objects)
    if denied and len(denied) == len(request.objects):
        raise AccessDenied()  # none of them: the call itself is refused
    gate = asyncio.Semaphore(DELETE_CONCURRENCY)

    async def delete_one(key: str, version_id: str | None) -> s3_xml.DeletedEntry | s3_xml.DeleteErrorEntry:
        async with gate:
            try:
                if (key, version_id) in denied:
                    raise AccessDenied()
                result = await req.metadata.delete_object(req.bucket_name, key, version_id)
            except Exception as exc:  # noqa: BLE001 - reported per key, as S3 does
                error = to_s3_error(exc)
                if error is None:
                    raise
                return s3_xml.DeleteErrorEntry(key, error.code, error.message, version_id)
        marker_version = result.version_id if result.is_delete_marker else None
        return s3_xml.DeletedEntry(
            key, version_id, result.is_delete_marker, marker_version if version_id is None else None
        )

    async with asyncio.TaskGroup() as group:  # an unmapped error cancels the rest and answers 500
        tasks = [group.create_task(delete_one(key, version_id)) for key, version_id in request.objects]
    results = [task.result() for task in tasks]  # in request order
    deleted = [r for r in results if isinstance(r, s3_xml.DeletedEntry)]
    failed = [r for r in results if isinstance(r, s3_xml.DeleteErrorEntry)]
    return Response(s3_xml.delete_result(deleted, failed, request.quiet), media_type=XML)


async def copy_object(req: S3Request) -> Response:
    bucket = await req.bucket()
    check_key(req.key)
    refuse_unsupported_features(req.headers)
    owner, acl = await ownership.upload_acl(req, bucket, req.headers)
    source = await copy_source.resolve(req, allow_range=False)
    src = source.version
    directive = req.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown metadata directive.", ArgumentName="x-amz-metadata-directive")
    # Copying a named older version onto its own key is how a version is restored: always legal.
    same = (source.bucket.name, src.key) == (req.bucket_name, req.key) and source.requested_version_id is None
    encryption = await sse.requested(req)
    changes = "x-amz-storage-class" in req.headers or any(h.startswith(sse.HEADER) for h in req.headers)
    if same and directive == "COPY" and not changes:
        raise InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes."
        )
    tagging_directive = req.headers.get("x-amz-tagging-directive", "COPY").upper()
    if tagging_directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown tagging directive.", ArgumentName="x-amz-tagging-directive")
    limit = req.services.config.max_metadata_size
    if directive == "REPLACE":
        attrs = attrs_from_headers(req.headers, owner, limit, acl)
    else:
        attrs = ObjectAttrs(
            content_type=src.content_type,
            content_encoding=src.content_encoding,
            content_disposition=src.content_disposition,
            content_language=src.content_language,
            cache_control=src.cache_control,
            expires=src.expires,
            storage_class=req.headers.get("x-amz-storage-class", src.storage_class).upper(),
            user_metadata=src.user_metadata,
            owner_id=owner,
            acl=acl,
        )
    algorithm = req.headers.get("x-amz-checksum-algorithm") or (
        src.checksums[0].algorithm if src.checksums else ""
    )
    tags = (
        tagging.from_header(req.headers.get("x-amz-tagging")) if tagging_directive == "REPLACE" else src.tags
    )
    attrs = dataclasses.replace(attrs, tags=tags)
    ingest = Ingest(source.stream(req), {}, max_size=copy_source.MAX_COPY_SIZE, default_algorithm=algorithm)
    blobs = await write_stream(req, req.key, ingest, src.size == 0, encryption=encryption)
    checksums = (ingest.checksum,) if ingest.checksum else ()
    etag = sse.etag(encryption, ingest.etag)
    attrs = dataclasses.replace(
        attrs, size=ingest.size, etag=etag, checksums=checksums, blobs=blobs, encryption=encryption
    )
    conditions = conditional_write(req)
    version = await req.metadata.put_object(
        req.bucket_name, req.key, attrs, if_match=conditions.if_match, if_none_match=conditions.if_none_match
    )
    headers = version_headers(version, bucket.versioning != VersioningState.UNVERSIONED)
    headers.update(expiration_headers(await bucket_lifecycle(req), version))
    headers.update(sse.response_headers(encryption, req))
    if src.version_id != "null" or source.bucket.versioning != VersioningState.UNVERSIONED:
        headers["x-amz-copy-source-version-id"] = src.version_id
    body = s3_xml.copy_result(
        "CopyObjectResult", version.etag, version.last_modified_ms, checksum_elements(checksums)
    )
    return Response(body, headers=headers, media_type=XML)


OBJECT_HANDLERS = {
    Op.PUT_OBJECT: put_object,
    Op.GET_OBJECT: get_object,
    Op.HEAD_OBJECT: head_object,
    Op.DELETE_OBJECT: delete_object,
    Op.DELETE_OBJECTS: delete_objects,
    Op.COPY_OBJECT: copy_object,
}
