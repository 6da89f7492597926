"""HTTP headers <-> object attributes: what PUT/Create stores and what GET/HEAD answers.

Request side: Content-Type (default `binary/octet-stream`), Content-Encoding without the
`aws-chunked` transfer coding, Content-Disposition/Language, Cache-Control, Expires, storage class,
and `x-amz-tagging` (tagging.py), `x-amz-meta-*` user metadata (names lower-cased; values arrive as UTF-8 text, are stored as
text and answered latin-1 encoded where possible, as the s3-tests conformance suite expects: a
value botocore sent as the UTF-8 of "caf\u00e9" comes back as the byte E9), limited to 2 KB in total. Response side: the same headers, ETag in quotes, Last-Modified as an HTTP date,
the version id, `x-amz-tagging-count`, and checksums only when asked for and never for a partial body.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from email.utils import formatdate

from cairn.metadata.models import Checksum, ChecksumType, ObjectAttrs, ObjectVersion

from . import tagging
from .checksums import ChecksumAlgorithm
from .errors import (
    InvalidRequest,
    InvalidStorageClass,
    KeyTooLongError,
    MetadataTooLarge,
)
from .errors import NotImplemented as S3NotImplemented

META_PREFIX = "x-amz-meta-"
MAX_KEY_BYTES = 1024
STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "DEEP_ARCHIVE",
        "GLACIER_IR",
    }
)
RESPONSE_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


def refuse_anonymous_overrides(query: Mapping[str, str], anonymous: bool) -> None:
    """S3 answers response-* overrides only to signed requests."""
    if anonymous and any(param in query for param in RESPONSE_OVERRIDES):
        raise InvalidRequest("Request specific response headers cannot be used for anonymous GET requests.")


def check_key(key: str) -> None:
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise KeyTooLongError(Size=len(key.encode()), MaxSizeAllowed=MAX_KEY_BYTES)


def _storable(value: str) -> str:
    """Header text as stored: bytes that were not UTF-8 are kept as latin-1 characters (one per byte)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("latin-1")
    return value


def wire_value(value: str) -> str:
    """Stored text as a response header value: Starlette encodes latin-1, so text beyond latin-1 is
    sent as its UTF-8 bytes."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8").decode("latin-1")
    return value


def user_metadata(headers: Mapping[str, str], limit: int) -> tuple[tuple[str, str], ...]:
    pairs = tuple(
        sorted((k[len(META_PREFIX) :], _storable(v)) for k, v in headers.items() if k.startswith(META_PREFIX))
    )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in pairs)
    if size > limit:
        raise MetadataTooLarge(Size=size, MaxSizeAllowed=limit)
    return pairs


def stored_content_encoding(headers: Mapping[str, str]) -> str:
    """Content-Encoding without the `aws-chunked` transfer coding, as S3 stores it: the other
    codings with the separators that followed them (`aws-chunked, gzip` -> `gzip`,
    `gzip, aws-chunked,br` -> `gzip, br`)."""
    value = headers.get("content-encoding", "")
    items = re.split(r"(,\s*)", value)  # coding, separator, coding, ...
    codings = items[0::2]
    kept = [(i, c) for i, c in enumerate(codings) if c.strip().lower() != "aws-chunked"]
    if len(kept) == len(codings):
        return value
    out = []
    for n, (i, coding) in enumerate(kept):
        out.append(coding)
        if n + 1 < len(kept):
            out.append(items[2 * i + 1] if 2 * i + 1 < len(items) else ",")
    return "".join(out).strip()


#: S3's answer to Object Lock headers on an upload to a bucket without Object Lock (every Cairn
#: bucket); its retention and legal-hold calls word it with spaces (handlers_disabled.NO_OBJECT_LOCK).
NO_OBJECT_LOCK = "Bucket is missing ObjectLockConfiguration"


def refuse_unsupported_features(headers: Mapping[str, str]) -> None:
    """Refuse headers asking for what Cairn lacks, as S3 answers them where the feature is off:
    Object Lock on an upload: 400 InvalidRequest (no bucket has Object Lock). Features S3 has and
    Cairn does not (a bucket with Object Lock): 501 NotImplemented. Encryption headers are
    sse.requested's; ACL headers are ownership.upload_acl's and handlers_acl.creation_settings'."""
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-amz-object-lock-"):
            raise InvalidRequest(NO_OBJECT_LOCK)
        if lower == "x-amz-bucket-object-lock-enabled" and value.strip().lower() != "false":
            raise S3NotImplemented("Cairn does not implement Object Lock.", Header=lower)


def attrs_from_headers(
    headers: Mapping[str, str], owner_id: str, metadata_limit: int, acl: str = ""
) -> ObjectAttrs:
    storage_class = headers.get("x-amz-storage-class", "STANDARD").upper()
    if storage_class not in STORAGE_CLASSES:
        raise InvalidStorageClass()
    return ObjectAttrs(
        content_type=headers.get("content-type", "") or "binary/octet-stream",
        content_encoding=stored_content_encoding(headers),
        content_disposition=headers.get("content-disposition", ""),
        content_language=headers.get("content-language", ""),
        cache_control=headers.get("cache-control", ""),
        expires=headers.get("expires", ""),
        website_redirect_location=headers.get("x-amz-website-redirect-location", ""),
        storage_class=storage_class,
        user_metadata=user_metadata(headers, metadata_limit),
        tags=tagging.from_header(headers.get("x-amz-tagging")),
        owner_id=owner_id,
        acl=acl,
    )


def http_date(ms: int) -> str:
    return formatdate(ms / 1000, usegmt=True)


def checksum_headers(checksums: tuple[Checksum, ...], parts_count: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in checksums:
        alg = ChecksumAlgorithm.parse(c.algorithm)
        if alg is None:
            continue
        value = base64.b64encode(c.value).decode()
        if c.type == ChecksumType.COMPOSITE and parts_count:
            value = f"{value}-{parts_count}"
        out[alg.header] = value
        out["x-amz-checksum-type"] = str(c.type)
    return out


def checksum_elements(checksums: tuple[Checksum, ...], parts_count: int = 0) -> list[tuple[str, str]]:
    """(XML element, value) pairs, e.g. ("ChecksumCRC32", "DUoRhQ==")."""
    out = []
    for header, value in checksum_headers(checksums, parts_count).items():
        alg = ChecksumAlgorithm.parse(header)
        if alg is not None:
            out.append((alg.xml_element, value))
    return out


def version_headers(v: ObjectVersion, versioned_bucket: bool) -> dict[str, str]:
    if v.version_id != "null" or versioned_bucket:
        return {"x-amz-version-id": v.version_id}
    return {}


def object_headers(
    v: ObjectVersion, query: Mapping[str, str], *, versioned_bucket: bool, with_checksums: bool
) -> dict[str, str]:
    """Headers of a GET/HEAD response for version `v` (without Content-Length/Range)."""
    h = {
        "etag": f'"{v.etag}"',
        "last-modified": http_date(v.last_modified_ms),
        "accept-ranges": "bytes",
        "content-type": v.content_type or "binary/octet-stream",
    }
    for name, value in (
        ("content-encoding", v.content_encoding),
        ("content-disposition", v.content_disposition),
        ("content-language", v.content_language),
        ("cache-control", v.cache_control),
        ("expires", v.expires),
        ("x-amz-website-redirect-location", v.website_redirect_location),
    ):
        if value:
            h[name] = value
    if v.storage_class and v.storage_class != "STANDARD":
        h["x-amz-storage-class"] = v.storage_class
    for name, value in v.user_metadata:
        h[META_PREFIX + name] = wire_value(value)
    if v.tags:
        h["x-amz-tagging-count"] = str(len(v.tags))
    if v.parts_count and "partNumber" in query:  # S3 tells the count only to a read of a part
        h["x-amz-mp-parts-count"] = str(v.parts_count)
    h.update(version_headers(v, versioned_bucket))
    if with_checksums:
        h.update(checksum_headers(v.checksums, v.parts_count))
    for param, header in RESPONSE_OVERRIDES.items():
        if param in query:
            h[header] = query[param]
    return h
