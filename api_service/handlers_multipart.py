"""Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts."""

from __future__ import annotations

import dataclasses

from starlette.responses import Response

from cairn.metadata.models import Checksum, ChecksumType, CompletedPart, VersioningState

from . import copy_source, lifecycle, ownership, s3_xml, sse
from .checksums import ChecksumAlgorithm, decode_b64_digest
from .context import S3Request
from .errors import BadDigest, InvalidArgument, InvalidPart, InvalidRequest
from .handlers_bucket_config import bucket_lifecycle, expiration_headers
from .handlers_object import conditional_write, store_upload, write_stream
from .ingest import Ingest
from .object_headers import (
    attrs_from_headers,
    check_key,
    checksum_elements,
    checksum_headers,
    refuse_unsupported_features,
    version_headers,
)
from .router import Op

XML = "application/xml"


async def create_multipart_upload(req: S3Request) -> Response:
    bucket = await req.bucket()
    check_key(req.key)
    refuse_unsupported_features(req.headers)
    owner, acl = await ownership.upload_acl(req, bucket, req.headers)
    attrs = attrs_from_headers(req.headers, owner, req.services.config.max_metadata_size, acl)
    attrs = dataclasses.replace(attrs, encryption=await sse.requested(req))
    raw_alg = req.headers.get("x-amz-checksum-algorithm", "")
    algorithm = ChecksumAlgorithm.parse(raw_alg) if raw_alg else None
    if raw_alg and algorithm is None:
        raise InvalidRequest("Checksum algorithm provided is unsupported.")
    raw_type = req.headers.get("x-amz-checksum-type", "").upper()
    if raw_type not in ("", "COMPOSITE", "FULL_OBJECT"):
        raise InvalidRequest("The x-amz-checksum-type header is invalid.")
    if algorithm is ChecksumAlgorithm.CRC64NVME and raw_type == "COMPOSITE":
        raise InvalidRequest(
            "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."
        )
    if raw_type == "FULL_OBJECT" and algorithm in (ChecksumAlgorithm.SHA1, ChecksumAlgorithm.SHA256):
        raise InvalidRequest("The FULL_OBJECT checksum type cannot be used with SHA checksum algorithms.")
    default_type = "FULL_OBJECT" if algorithm is ChecksumAlgorithm.CRC64NVME else "COMPOSITE"
    checksum_type = ChecksumType(raw_type or default_type)
    upload = await req.metadata.create_multipart_upload(
        req.bucket_name,
        req.key,
        attrs,
        checksum_algorithm=algorithm.value if algorithm else "",
        checksum_type=checksum_type,
    )
    headers = sse.response_headers(attrs.encryption, req)
    if algorithm is not None:
        headers |= {"x-amz-checksum-algorithm": algorithm.value, "x-amz-checksum-type": str(checksum_type)}
    rules = await bucket_lifecycle(req)
    if rules is not None:
        headers.update(lifecycle.abort_date(rules, req.key, upload.initiated_ms))
    body = s3_xml.initiate_multipart(req.bucket_name, req.key, upload.upload_id)
    return Response(body, headers=headers, media_type=XML)


def _part_number(req: S3Request) -> int:
    return req.int_query("partNumber", 0, 1, 10000)


async def upload_part(req: S3Request) -> Response:
    await req.bucket()
    number = _part_number(req)
    upload = await req.metadata.get_multipart_upload(req.bucket_name, req.key, req.query["uploadId"])
    encryption = upload.attrs.encryption
    sse.key_for_part(req, encryption)
    blobs, ingest = await store_upload(req, req.key, number, upload.checksum_algorithm, encryption)
    checksums = (ingest.checksum,) if ingest.checksum else ()
    etag = sse.etag(encryption, ingest.etag)
    await req.metadata.register_part(
        req.bucket_name,
        req.key,
        upload.upload_id,
        number,
        size=ingest.size,
        etag=etag,
        blobs=blobs,
        checksums=checksums,
    )
    headers = {"etag": f'"{etag}"', "content-length": "0", **checksum_headers(checksums, 0)}
    return Response(headers=headers | sse.response_headers(encryption, req))


async def upload_part_copy(req: S3Request) -> Response:
    await req.bucket()
    number = _part_number(req)
    upload = await req.metadata.get_multipart_upload(req.bucket_name, req.key, req.query["uploadId"])
    sse.key_for_part(req, upload.attrs.encryption)
    source = await copy_source.resolve(req, allow_range=True)
    ingest = Ingest(
        source.stream(req),
        {},
        max_size=copy_source.MAX_COPY_SIZE,
        default_algorithm=upload.checksum_algorithm,
    )
    encryption = upload.attrs.encryption
    blobs = await write_stream(req, req.key, ingest, source.length == 0, number, encryption)
    checksums = (ingest.checksum,) if ingest.checksum else ()
    part = await req.metadata.register_part(
        req.bucket_name,
        req.key,
        upload.upload_id,
        number,
        size=ingest.size,
        etag=sse.etag(encryption, ingest.etag),
        blobs=blobs,
        checksums=checksums,
    )
    headers = sse.response_headers(encryption, req)
    if source.version.version_id != "null" or source.bucket.versioning != VersioningState.UNVERSIONED:
        headers["x-amz-copy-source-version-id"] = source.version.version_id
    body = s3_xml.copy_result(
        "CopyPartResult", part.etag, part.last_modified_ms, checksum_elements(checksums)
    )
    return Response(body, headers=headers, media_type=XML)


def _completed_parts(parts: tuple[s3_xml.CompletePart, ...]) -> list[CompletedPart]:
    out = []
    for part in parts:
        checksums = []
        for name, value in part.checksums:
            alg = ChecksumAlgorithm.parse(name)
            raw = decode_b64_digest(alg, value) if alg else None
            if alg is None or raw is None:
                raise InvalidPart(PartNumber=part.part_number)
            checksums.append(Checksum(alg.value, raw))
        out.append(CompletedPart(part.part_number, part.etag, tuple(checksums)))
    return out


def _object_checksum(req: S3Request, parts_count: int) -> tuple[Checksum, ...]:
    """The object checksum a completion states: FULL_OBJECT `b64`, or COMPOSITE `b64-N` (the
    checksum of the part checksums, N the number of parts); the metadata service checks it."""
    for alg in ChecksumAlgorithm:
        value = req.headers.get(alg.header)
        if value is None:
            continue
        digest, dash, count = value.partition("-")
        raw = decode_b64_digest(alg, digest)
        if raw is None or (dash and not count.isdigit()):
            raise InvalidRequest(f"Value for {alg.header} header is invalid.")
        if dash and int(count) != parts_count:
            raise BadDigest(f"The {alg.value} you specified did not match the calculated checksum.")
        return (Checksum(alg.value, raw, ChecksumType.COMPOSITE if dash else ChecksumType.FULL_OBJECT),)
    return ()


async def complete_multipart_upload(req: S3Request) -> Response:
    bucket = await req.bucket()
    parts = _completed_parts(s3_xml.parse_complete_multipart(await req.read_body(object_checksum=True)))
    checksums = _object_checksum(req, len(parts))
    conditions = conditional_write(req)
    version = await req.metadata.complete_multipart_upload(
        req.bucket_name,
        req.key,
        req.query["uploadId"],
        parts,
        checksums=checksums,
        if_match=conditions.if_match,
        if_none_match=conditions.if_none_match,
    )
    headers = version_headers(version, bucket.versioning != VersioningState.UNVERSIONED)
    headers.update(expiration_headers(await bucket_lifecycle(req), version))
    headers.update(sse.response_headers(version.encryption, req))
    location = f"/{req.bucket_name}/{req.key}"
    checksum_type = str(version.checksums[0].type) if version.checksums else ""
    body = s3_xml.complete_multipart(
        location,
        req.bucket_name,
        req.key,
        version.etag,
        checksum_elements(version.checksums, version.parts_count),
        checksum_type,
    )
    return Response(body, headers=headers, media_type=XML)


async def abort_multipart_upload(req: S3Request) -> Response:
    await req.bucket()
    await req.metadata.abort_multipart_upload(req.bucket_name, req.key, req.query["uploadId"])
    return Response(status_code=204)


async def list_parts(req: S3Request) -> Response:
    await req.bucket()
    max_parts = req.int_query("max-parts", 1000, 0, 2**31 - 1)
    marker = req.int_query("part-number-marker", 0, 0, 10000)
    page = await req.metadata.list_parts(
        req.bucket_name,
        req.key,
        req.query["uploadId"],
        max_parts=min(max_parts, 1000),
        part_number_marker=marker,
    )

    def element(c: Checksum) -> tuple[str, str]:
        pairs = checksum_elements((dataclasses.replace(c, type=ChecksumType.FULL_OBJECT),))
        if not pairs:
            raise InvalidArgument("unknown checksum algorithm")
        return pairs[0]

    body = s3_xml.list_parts(req.bucket_name, req.key, page, max_parts, marker, element)
    return Response(body, media_type=XML)


MULTIPART_HANDLERS = {
    Op.CREATE_MULTIPART_UPLOAD: create_multipart_upload,
    Op.UPLOAD_PART: upload_part,
    Op.UPLOAD_PART_COPY: upload_part_copy,
    Op.COMPLETE_MULTIPART_UPLOAD: complete_multipart_upload,
    Op.ABORT_MULTIPART_UPLOAD: abort_multipart_upload,
    Op.LIST_PARTS: list_parts,
}
